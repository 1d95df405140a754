"""gqa adapter: the real allennlp sample (single file and shard folder) and format faults."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from mmbench.adapters.base import AdapterError
from mmbench.data import build, load
from tests.adapters import _helpers as helpers
from tests.fakes.gqa import question, write_fake, write_images

adapter = partial(helpers.make_adapter, "gqa")
run = partial(helpers.run, "gqa")


def rows(home: Path) -> dict[str, dict[str, Any]]:
    data = load("gqa", home)
    return {r["id"]: r for split in data for r in data[split]}


# --- real sample ---------------------------------------------------------------------------

def test_real_single_file_and_shards(realdata: Path, isolated_home: Path) -> None:
    root = realdata / "gqa"
    report, rejected = run(root, isolated_home, files="train=questions.json,val=question_dir")
    assert rejected == []
    assert {s: r.kept for s, r in report.splits.items()} == {"train": 1, "val": 2}
    got = rows(isolated_home)
    assert sorted(got) == ["train-202218649", "val-202218649", "val-20240871"]
    one = got["train-202218649"]
    assert one["question"] == "What is hanging above the chalkboard?"
    assert one["answers"] == ["picture"]
    assert one["images"][0]["path"] == "images/n578564.jpg"
    meta = json.loads(one["meta"])
    assert meta["fullAnswer"] == "The picture is hanging above the chalkboard."
    assert meta["types"] == {"detailed": "relS", "semantic": "rel", "structural": "query"}
    assert [step["operation"] for step in meta["semantic"]] == ["select", "relate", "query"]
    # The two shards keep their own file names in the provenance.
    two = got["val-20240871"]
    assert two["source"] == {"dataset": "gqa", "file": "question_dir/questions1.json",
                             "locator": "key 20240871"}
    assert two["answers"] == ["yes"] and two["images"][0]["path"] == "images/n166008.jpg"
    assert json.loads(two["meta"])["groups"] == {"global": None, "local": "05-round_wood"}


# --- fake corpus in the official layout ----------------------------------------------------

def test_fake_balanced_layout(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "gqa"
    expected = write_fake(root)
    report, rejected = run(root, isolated_home)
    assert report.kept == expected == 5 and rejected == []
    assert list(report.splits) == ["train", "val", "testdev", "test"]
    got = rows(isolated_home)
    assert got["test-0401"]["answers"] == []  # test questions carry no answer
    assert got["train-0102"]["images"][0]["path"] == "images/n2002.jpg"


def test_sharded_all_questions_in_natural_order(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "gqa"
    shards = root / "train_all_questions"
    shards.mkdir(parents=True)
    write_images(root, ["1", "2"])
    for n in (2, 10):
        doc = {f"q{n}": question(f"q{n}", "1"), "dup": question("dup", "2")}
        (shards / f"train_all_questions_{n}.json").write_text(json.dumps(doc))
    report, rejected = run(root, isolated_home, subset="all")
    assert report.kept == 3
    # Shard 10 is read after shard 2, so the repeated id is reported in shard 10.
    shard10 = "train_all_questions/train_all_questions_10.json"
    assert rejected == [{"split": "train", "file": shard10, "locator": "key dup",
                         "reason": "duplicate id: 'train-dup' (first seen in split 'train')"}]


def test_row_faults_are_reported(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "gqa"
    expected = write_fake(root)
    path = root / "train_balanced_questions.json"
    doc = json.loads(path.read_text())
    del doc["0101"]["imageId"]
    doc["0102"]["answer"] = None  # a labelled split needs its answer
    doc["0103"] = ["not", "an", "object"]
    doc["0104"] = question("0104", "absent")  # no such image
    path.write_text(json.dumps(doc))
    report, rejected = run(root, isolated_home)
    found = {(r["file"], r["locator"]): r["reason"] for r in rejected}
    assert found == {
        ("train_balanced_questions.json", "key 0101"): "missing or non-string imageId",
        ("train_balanced_questions.json", "key 0102"): "missing answer",
        ("train_balanced_questions.json", "key 0103"): "question is not an object",
        ("train_balanced_questions.json", "key 0104"): "missing image file: images/absent.jpg",
    }
    assert report.kept == expected - 2


def test_unreadable_corpus_raises(tmp_path: Path, isolated_home: Path) -> None:
    helpers.assert_root_errors(adapter(), tmp_path, isolated_home,
                               empty="train_all_questions|_balanced_questions")
    root = tmp_path / "gqa"
    write_fake(root)
    with pytest.raises(AdapterError, match="not split=path"):
        adapter(files="train").splits(root)
    with pytest.raises(AdapterError, match="nothing.json"):
        adapter(files="train=nothing.json").splits(root)
    (root / "val_balanced_questions.json").write_bytes(b'{"1": {"question": "\xff"}}')
    with pytest.raises(AdapterError, match="val_balanced_questions.json"):
        build(adapter(), root, home=isolated_home)
    (root / "val_balanced_questions.json").write_text("[1, 2]")
    with pytest.raises(AdapterError, match="keyed by question id"):
        build(adapter(), root, home=isolated_home)
