"""vqav2 adapter: the real allennlp / official-annotation samples and format faults."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from mmbench.adapters.base import AdapterError
from mmbench.data import build, load
from tests.adapters import _helpers as helpers
from tests.fakes.vqav2 import write_fake

FLAT_IMAGES = "images/COCO_{image_subtype}_{image_id:012d}.jpg"
TRAIN_SAMPLE = "awesome-dataset-annotations/v2_mscoco_train2014_annotations.json_samples.json"


adapter = partial(helpers.make_adapter, "vqav2")
run = partial(helpers.run, "vqav2")


def rows(home: Path, split: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in load("vqav2", home)[split]}


# --- real samples -------------------------------------------------------------------------

def test_real_allennlp_layout(realdata: Path, isolated_home: Path) -> None:
    root = realdata / "vqav2"
    report, rejected = run(root, isolated_home, questions="questions.json",
                           annotations="annotations.json", images=FLAT_IMAGES)
    assert adapter(questions="questions.json").splits(root) == ["train"]  # from data_subtype
    assert adapter(questions="questions.json", subtype="val2014").splits(root) == ["val"]
    assert (report.read, report.kept, rejected) == (3, 3, [])
    got = rows(isolated_home, "train")
    assert sorted(got) == ["train2014-458752000", "train2014-458752001", "train2014-458752002"]
    first = got["train2014-458752000"]
    assert first["question"] == "What is this photo taken looking through?"
    # allennlp's trimmed copy edits the last two answers; the 10 are kept in file order.
    assert first["answers"] == ["net"] * 3 + ["netting", "net", "net", "mesh", "net",
                                              "pitcher", "orange"]
    assert all(r["images"][0]["path"] == "images/COCO_train2014_000000458752.jpg"
               for r in got.values())
    meta = json.loads(first["meta"])
    assert meta["answer_confidence"][:2] == ["maybe", "yes"]
    assert meta["image_id"] == 458752 and meta["data_subtype"] == "train2014"
    assert got["train2014-458752001"]["answers"].count("catcher") == 1


def test_real_join_with_official_annotations(realdata: Path, isolated_home: Path) -> None:
    """Real questions joined to the first 100 official train2014 annotations."""
    report, rejected = run(realdata / "vqav2", isolated_home, questions="questions.json",
                           annotations=TRAIN_SAMPLE, images=FLAT_IMAGES)
    assert (report.read, report.kept, report.rejected) == (100, 3, 97)
    assert {r["reason"] for r in rejected} == {"annotation has no question in questions.json"}
    assert {r["file"] for r in rejected} == {TRAIN_SAMPLE}
    assert "question_id 458752003" in {r["locator"] for r in rejected}
    got = rows(isolated_home, "train")
    first = got["train2014-458752000"]
    assert first["answers"] == ["net"] * 3 + ["netting", "net", "net", "mesh", "net", "net", "net"]
    meta = json.loads(first["meta"])
    assert (meta["answer_type"], meta["question_type"], meta["multiple_choice_answer"]) == (
        "other", "what is this", "net")
    assert json.loads(got["train2014-458752002"]["meta"])["multiple_choice_answer"] == "orange"


# --- fake corpus in the official layout ----------------------------------------------------

def test_fake_official_layout(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "vqa"
    expected = write_fake(root)
    report, rejected = run(root, isolated_home)
    assert report.kept == expected == 7 and rejected == []
    assert list(report.splits) == ["train", "val", "test-dev", "test"]
    train = rows(isolated_home, "train")["train2014-11001"]
    assert train["images"][0]["path"] == "train2014/COCO_train2014_000000000011.jpg"
    assert train["answers"] == ["ans11001"] * 9 + ["other"]
    test_dev = rows(isolated_home, "test-dev")["test-dev2015-31000"]
    # test-dev images sit in test2015/ and carry no answers.
    assert test_dev["images"][0]["path"] == "test2015/COCO_test2015_000000000031.jpg"
    assert test_dev["answers"] == []


def _edit(path: Path, key: str, change: Any) -> None:
    doc = json.loads(path.read_text())
    change(doc[key])
    path.write_text(json.dumps(doc))


Q_TRAIN = "v2_OpenEnded_mscoco_train2014_questions.json"
A_TRAIN = "v2_mscoco_train2014_annotations.json"


def test_join_faults_are_reported(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "vqa"
    expected = write_fake(root)

    def break_questions(qs: list[dict[str, Any]]) -> None:
        del qs[0]["question"]  # missing field
        qs.append(dict(qs[1]))  # duplicate question_id
        qs.append({"image_id": 12, "question": "Orphan?", "question_id": 12999})  # no annotation

    def break_annotations(anns: list[dict[str, Any]]) -> None:
        anns[1]["image_id"] = 99  # disagrees with its question
        anns[2]["answers"] = [{"answer": 3}]  # not a string
        anns.append({"question_id": 77777, "answers": [{"answer": "x"}]})  # no question

    _edit(root / Q_TRAIN, "questions", break_questions)
    _edit(root / A_TRAIN, "annotations", break_annotations)
    report, rejected = run(root, isolated_home)
    found = {(r["file"], r["locator"]): r["reason"] for r in rejected}
    assert found == {
        (Q_TRAIN, "questions[0]"): "missing question text",
        (Q_TRAIN, "questions[3]"): "duplicate question_id 11001",
        (Q_TRAIN, "question_id 12999"): f"question has no annotation in {A_TRAIN}",
        (Q_TRAIN, "question_id 12000"): f"question has no annotation in {A_TRAIN}",
        (A_TRAIN, "annotations[2]"): "an answer is not an object with a string 'answer'",
        (A_TRAIN, "question_id 11001"): "annotation image_id 99 differs from question image_id 11",
        (A_TRAIN, "question_id 77777"): f"annotation has no question in {Q_TRAIN}",
        (A_TRAIN, "question_id 11000"): f"annotation has no question in {Q_TRAIN}",
    }
    assert report.kept == expected - 3


def test_missing_image_names_file_and_question(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "vqa"
    expected = write_fake(root)
    (root / "val2014" / "COCO_val2014_000000000021.jpg").unlink()
    report, rejected = run(root, isolated_home)
    assert report.kept == expected - 2
    assert [(r["split"], r["file"], r["locator"]) for r in rejected] == [
        ("val", "v2_OpenEnded_mscoco_val2014_questions.json", "question_id 21000"),
        ("val", "v2_OpenEnded_mscoco_val2014_questions.json", "question_id 21001"),
    ]
    assert all(r["reason"].startswith("missing image file") for r in rejected)


def test_unreadable_files_raise(tmp_path: Path, isolated_home: Path) -> None:
    helpers.assert_root_errors(adapter(), tmp_path, isolated_home,
                               empty="no questions file matching")
    root = tmp_path / "vqa"
    write_fake(root)
    (root / Q_TRAIN).write_bytes(b'{"questions": ["\xff\xfe"]}')
    with pytest.raises(AdapterError, match=Q_TRAIN):
        build(adapter(), root, home=isolated_home)
    write_fake(root)
    with pytest.raises(AdapterError, match="bad file name template"):
        build(adapter(images="{nope}/x.jpg"), root, home=isolated_home)
    (root / Q_TRAIN).write_text('{"data_subtype": "train2014"}')
    with pytest.raises(AdapterError, match="no 'questions' list"):
        build(adapter(), root, home=isolated_home)
