"""llava: LLaVA's ScienceQA conversations, LLaMA-Factory's ShareGPT demo, bad inputs."""

from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path

import pytest

from mmbench.adapters import ADAPTERS
from mmbench.adapters.base import AdapterError
from mmbench.data import build, load
from tests.adapters._helpers import assert_root_errors, ingest, rejections_by_locator
from tests.fakes._images import image_bytes

NAME = "llava"
SQA = "llava_test_CQM-A.json"


_build = partial(ingest, NAME)
_rejections = partial(rejections_by_locator, dataset=NAME)


def _fake_sqa_images(realdata: Path, folder: Path) -> None:
    """The sample ships no images: give every `<id>/image.png` a distinct tiny PNG."""
    for row in json.loads((realdata / "llava_conversation" / SQA).read_text()):
        if "image" in row:
            (folder / row["image"]).parent.mkdir(parents=True, exist_ok=True)
            (folder / row["image"]).write_bytes(image_bytes(int(row["id"])))


def test_real_scienceqa_with_images(realdata: Path, tmp_path: Path) -> None:
    _fake_sqa_images(realdata, tmp_path / "images")
    root = realdata / "llava_conversation"
    # The images lie outside the (read-only) root: only the explicit option reads them.
    report = _build(root, tmp_path / "home", file=SQA, image_folder=str(tmp_path / "images"),
                    allow_symlinks_out=True)
    assert report.read == 4241 and report.kept == 2017 and report.rejected == 2224
    rejected = _rejections(tmp_path / "home")
    assert rejected["record 0"] == {
        "split": "test", "file": SQA, "locator": "record 0",
        "reason": "text-only record (no image); keep_text_only keeps it"}
    rows = load(NAME, home=tmp_path / "home")["test"]
    first = rows[0]
    assert first["id"] == "5" and first["source"]["locator"] == "record 1"
    assert first["images"][0]["path"] == "5/image.png"
    assert first["images"][0]["bytes"] == image_bytes(5)
    assert first["question"].startswith("Context: People can use the engineering-design")
    assert first["question"].endswith("C. whether a parachute with a 1 m vent would swing too much"
                                      " at 400 km per hour")
    assert first["answers"] == ["B"]
    meta = json.loads(first["meta"])
    assert meta["conversations"][0]["value"].startswith("<image>\nContext:")
    assert all(not q.startswith("<image>") for q in rows["question"])


def test_real_scienceqa_text_only(realdata: Path, tmp_path: Path) -> None:
    root = realdata / "llava_conversation"
    report = _build(root, tmp_path / "home", file=SQA, keep_text_only=True)
    assert report.kept == 2224 and report.rejected == 2017
    assert _rejections(tmp_path / "home")["record 1"]["reason"] == "missing image file: 5/image.png"
    rows = load(NAME, home=tmp_path / "home")["test"]
    assert rows[0]["id"] == "4" and rows[0]["images"] == [] and rows[0]["answers"] == ["B"]
    assert rows[0]["question"].startswith("Which figure of speech is used in this text?")


def test_real_sharegpt_demo(realdata: Path, tmp_path: Path) -> None:
    root = realdata / "llava_conversation" / "llamafactory_sharegpt"
    report = _build(root, tmp_path / "home")
    assert report.kept == 6 and report.rejected == 0
    rows = load(NAME, home=tmp_path / "home")["test"]
    assert rows["id"] == [f"record-{i}" for i in range(6)]
    one = hashlib.sha256((root / "mllm_demo_data" / "1.jpg").read_bytes()).hexdigest()
    assert [i["sha256"] for i in rows[0]["images"]] == [one, one]  # two tokens, two images
    assert rows[0]["question"] == "Who are they?"
    assert rows[0]["answers"] == ["They're Kane and Gretzka from Bayern Munich."]
    assert len(json.loads(rows[0]["meta"])["messages"]) == 4
    assert [i["path"] for i in rows[5]["images"]] == ["mllm_demo_data/3.jpg"]


def test_real_llava_bench_questions_joined_with_answers(realdata: Path, tmp_path: Path) -> None:
    root = realdata / "llava_conversation" / "llava_bench_coco"
    questions = root / "qa90_questions.jsonl"
    names = sorted({json.loads(line)["image"] for line in questions.read_text().splitlines()})
    assert len(names) == 30
    (tmp_path / "val2014").mkdir()
    for seed, name in enumerate(names):
        (tmp_path / "val2014" / name).write_bytes(image_bytes(seed))
    report = _build(root, tmp_path / "home", file="qa90_questions.jsonl",
                    answers_file="qa90_gpt4_answer.jsonl", image_folder=str(tmp_path / "val2014"),
                    allow_symlinks_out=True)  # images outside the read-only root
    assert report.kept == 90 and report.rejected == 0
    rows = load(NAME, home=tmp_path / "home")["test"]
    assert rows["id"] == [str(i) for i in range(90)]
    first = rows[0]
    assert first["question"] == "What is the color of the two suitcases in the image?"
    assert first["answers"] == [
        "The colors of the two suitcases in the image are black and brown with yellow details."]
    assert first["images"][0]["path"] == "000000441147.jpg"
    assert first["images"][0]["bytes"] == image_bytes(names.index("000000441147.jpg"))
    assert json.loads(first["meta"])["category"] == "conv"
    assert all(len(a) == 1 for a in rows["answers"])
    with pytest.raises(AdapterError, match="is missing"):
        build(ADAPTERS.get(NAME)(file="qa90_questions.jsonl", answers_file="nope.jsonl"), root,
              home=tmp_path / "home")


def _conv(question: str, answer: str = "a") -> list[dict[str, str]]:
    return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]


def test_bad_jsonl_rows(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    (root / "x.png").write_bytes(image_bytes(1))
    good = {"id": "1", "image": "x.png", "conversations": _conv("<image>\nq")}
    lines = [
        json.dumps(good).encode(),
        b'{"id": "2", "image": "x.png", "conversations": [',
        b'{"id": "3", "image": "x.png", "conversations": [{"from": "human", "value": "\xff"}]}',
        json.dumps({"id": "4", "image": "x.png"}).encode(),
        json.dumps({"id": "5", "image": "x.png", "conversations": [
            {"from": "robot", "value": "hi"}]}).encode(),
        json.dumps({"id": "6", "image": "x.png", "conversations": [
            {"from": "gpt", "value": "only an answer"}]}).encode(),
        json.dumps({"id": "7", "image": "x.png",
                    "conversations": _conv("<image><image>q")}).encode(),
        json.dumps({"id": "8", "conversations": _conv("<image>\nq")}).encode(),
        json.dumps({"id": "9", "conversations": _conv("text only")}).encode(),
        json.dumps({"id": "10", "image": "gone.png", "conversations": _conv("q")}).encode(),
        json.dumps(good).encode(),
        json.dumps({"id": "12", "image": 5, "conversations": _conv("q")}).encode(),
        json.dumps({"question_id": 13, "image": "x.png"}).encode(),  # question file line
    ]
    (root / "data.jsonl").write_bytes(b"\n".join(lines))
    report = _build(root, tmp_path / "home")
    assert report.read == 13 and report.kept == 1 and report.rejected == 12
    got = {k: r["reason"] for k, r in _rejections(tmp_path / "home").items()}
    assert got["line 2"].startswith("broken JSON")
    assert got["line 3"].startswith("invalid UTF-8")
    assert got["line 4"] == "missing required field 'conversations'"
    assert got["line 5"] == "turn 0 of 'conversations' has unknown role 'robot'"
    assert got["line 6"] == "conversation has no human turn"
    assert got["line 7"] == "conversation has 2 <image> token(s) for 1 image(s)"
    assert got["line 8"] == "conversation has 1 <image> token(s) but no image"
    assert got["line 9"] == "text-only record (no image); keep_text_only keeps it"
    assert got["line 10"] == "missing image file: gone.png"
    assert got["line 11"].startswith("duplicate id: '1'")
    assert got["line 12"] == "field 'image' must be a path or a list of paths"
    assert got["line 13"] == "missing required field 'text'"


def test_json_list_faults(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    records = [{"id": "a", "conversations": _conv("q", "yes")}, "not a record", {"id": "b"}]
    (root / "data.json").write_text(json.dumps(records))
    report = _build(root, tmp_path / "home", keep_text_only=True)
    assert report.kept == 1 and report.rejected == 2
    got = _rejections(tmp_path / "home")
    assert got["record 1"]["reason"] == "record is not a JSON object"
    assert got["record 2"] == {"split": "test", "file": "data.json", "locator": "record 2",
                               "reason": "missing required field 'conversations'"}
    (root / "data.json").write_text('[{"id": "a"')
    with pytest.raises(AdapterError, match="is not valid JSON"):
        build(ADAPTERS.get(NAME)(), root, home=tmp_path / "home")


def test_root_errors(tmp_path: Path) -> None:
    adapter = ADAPTERS.get(NAME)()
    assert_root_errors(adapter, tmp_path, tmp_path / "home", empty="no .json/.jsonl file")
    with pytest.raises(AdapterError, match="is missing"):
        build(ADAPTERS.get(NAME)(file="nope.json"), tmp_path / "empty", home=tmp_path / "home")
