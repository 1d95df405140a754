"""vlmevalkit-tsv: evalscope's custom VLMEvalKit TSVs and the faults of the format."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import partial
from pathlib import Path

import pytest

from mmbench.adapters import ADAPTERS
from mmbench.adapters.base import AdapterError
from mmbench.data import build, load
from tests.adapters._helpers import assert_root_errors, ingest, rejections_by_locator
from tests.fakes import vlmevalkit_tsv as fake
from tests.fakes._images import image_bytes

NAME = "vlmevalkit-tsv"
PREFIX = "custom_eval/multimodal/"
IMAGES = ["dog", "AMNH", "tokyo", "tesla", "running"]


_build = partial(ingest, NAME)
_rejections = partial(rejections_by_locator, dataset=NAME)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_real_mcq(realdata: Path, tmp_path: Path) -> None:
    root = realdata / "vlmevalkit_tsv" / "evalscope_custom"
    report = _build(root, tmp_path, file="mcq/example.tsv", strip_prefix=PREFIX)
    assert report.splits["test"].kept == 5 and report.rejected == 0
    rows = load(NAME, home=tmp_path)["test"]
    assert rows["id"] == ["1", "2", "3", "4", "5"]
    assert rows["answer_index"] == [0, 3, 1, 2, 0]
    assert rows[2]["question"] == "Which city's skyline is this?"
    assert rows[2]["choices"] == ["New York", "Tokyo", "Shanghai", "Paris"]
    assert rows[2]["source"] == {"dataset": NAME, "file": "mcq/example.tsv", "locator": "line 4"}
    assert json.loads(rows[2]["meta"])["category"] == "Cities"
    for row, stem in zip(rows, IMAGES, strict=True):
        (image,) = row["images"]
        assert image["path"] == f"{PREFIX}images/{stem}.jpg"
        assert image["sha256"] == _sha(root / "images" / f"{stem}.jpg")


def test_real_vqa(realdata: Path, tmp_path: Path) -> None:
    root = realdata / "vlmevalkit_tsv" / "evalscope_custom"
    report = _build(root, tmp_path, file="vqa/example.tsv", strip_prefix=PREFIX)
    assert report.kept == 5
    rows = load(NAME, home=tmp_path)["test"]
    assert rows["answers"] == [["Dog"], ["Museum"], ["Tokyo"], ["Tesla"], ["Running"]]
    assert rows["choices"] == [[]] * 5 and rows["answer_index"] == [None] * 5
    assert rows[4]["images"][0]["sha256"] == _sha(root / "images" / "running.jpg")


def test_real_paths_unresolved_without_prefix(realdata: Path, tmp_path: Path) -> None:
    # The TSV names images from the evalscope repo root; here they cannot be found.
    report = _build(realdata / "vlmevalkit_tsv" / "evalscope_custom" / "mcq", tmp_path)
    assert report.kept == 0 and report.rejected == 5
    assert _rejections(tmp_path)["line 2"]["reason"] == (
        f"missing image file: {PREFIX}images/dog.jpg")


def test_fake_shared_image_multiline_and_missing_options(tmp_path: Path) -> None:
    fake.write_fake(tmp_path / "c")
    assert _build(tmp_path / "c", tmp_path / "home").kept == 3
    rows = load(NAME, home=tmp_path / "home")["test"]
    assert rows[1]["images"][0]["bytes"] == image_bytes(1)  # index 1 points at index 0
    assert rows[1]["text"] == "Look closely" and rows[1]["choices"] == ["yes", "no"]
    assert rows[2]["question"] == "Two\nlines" and rows[2]["answer_index"] is None
    assert rows[2]["source"]["locator"] == "lines 4-5"


def _tsv(root: Path, rows: list[list[str]], header: list[str] = fake.HEADER) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    body = "\n".join("\t".join(r) for r in [header, *rows]) + "\n"
    (root / "bench.tsv").write_bytes(body.encode("utf-8", "surrogateescape"))
    return root


def _b64(seed: int) -> str:
    return base64.b64encode(image_bytes(seed)).decode()


def _mcq(index: str, image: str, answer: str = "A", question: str = "q?") -> list[str]:
    return [index, question, "", "x", "y", "", "", answer, "c", image]


def test_bad_rows_are_rejected_with_file_and_line(tmp_path: Path) -> None:
    rows = [
        _mcq("1", _b64(1)),
        _mcq("2", "not base64 at all, clearly!" * 4),
        _mcq("3", "99"),  # names an index that does not exist
        _mcq("4", "3"),  # names a row that is itself a reference
        _mcq("5", _b64(5), answer="C"),  # option C is empty
        _mcq("6", _b64(6))[:-2],
        _mcq("7", _b64(7), question="caf\udce9"),  # a Latin-1 byte
        _mcq("8", _b64(8), question=" "),
        _mcq("1", _b64(9)),
        _mcq("10", ""),
        _mcq("11", "1", answer="y"),  # the option's text as the answer
    ]
    root = _tsv(tmp_path / "c", rows)
    report = _build(root, tmp_path / "home")
    assert report.read == 11 and report.kept == 2 and report.rejected == 9
    got = _rejections(tmp_path / "home")
    assert {r["file"] for r in got.values()} == {"bench.tsv"}
    assert got["line 3"]["reason"].startswith("base64 decode error in image of index '2'")
    assert got["line 4"]["reason"] == "image refers to index '99', which has no image of its own"
    assert got["line 5"]["reason"] == "image refers to index '3', which has no image of its own"
    assert got["line 6"]["reason"] == "answer 'C' is not one of the options A, B"
    assert got["line 7"]["reason"] == "row has 8 fields, the header has 10"
    assert got["line 8"]["reason"] == "invalid UTF-8 in column 'question'"
    assert got["line 9"]["reason"] == "missing required field 'question'"
    assert got["line 10"]["reason"].startswith("duplicate id: '1'")
    assert got["line 11"]["reason"] == "row has no image (neither 'image' nor 'image_path')"
    kept = load(NAME, home=tmp_path / "home")["test"]
    assert kept["id"] == ["1", "11"] and kept["answer_index"] == [0, 1]


def test_image_lists_and_vqa_answer_lists(tmp_path: Path) -> None:
    header = ["index", "question", "answer", "image_path"]
    (tmp_path / "c" / "img").mkdir(parents=True)
    for n in (1, 2):
        (tmp_path / "c" / "img" / f"{n}.png").write_bytes(image_bytes(n))
    rows = [["1", "same?", "['no', 'No']", "['img/1.png', 'img/2.png']"],
            ["2", "what?", "a", "img/2.png"]]
    _tsv(tmp_path / "c", rows, header)
    assert _build(tmp_path / "c", tmp_path / "home").kept == 2
    got = load(NAME, home=tmp_path / "home")["test"]
    assert got["answers"] == [["no", "No"], ["a"]]
    assert [i["path"] for i in got[0]["images"]] == ["img/1.png", "img/2.png"]
    base64_list = str([_b64(3), _b64(4)])
    _tsv(tmp_path / "d", [["1", "q", "", "", "", "", "", "", "", base64_list]])
    assert _build(tmp_path / "d", tmp_path / "home2").kept == 1
    images = load(NAME, home=tmp_path / "home2")["test"][0]["images"]
    assert [i["bytes"] for i in images] == [image_bytes(3), image_bytes(4)]
    assert images[1]["path"] == "bench.tsv#index=1[1]"


def test_root_errors(tmp_path: Path) -> None:
    adapter = ADAPTERS.get(NAME)()
    assert_root_errors(adapter, tmp_path, tmp_path / "home", empty="no \\*.tsv file")
    _tsv(tmp_path / "noq", [["1", "x"]], header=["index", "answer"])
    with pytest.raises(AdapterError, match="no column"):
        build(adapter, tmp_path / "noq", home=tmp_path / "home")
    (tmp_path / "noq" / "other.tsv").write_text("index\tquestion\n")
    with pytest.raises(AdapterError, match="2 TSV files"):
        build(adapter, tmp_path / "noq", home=tmp_path / "home")
