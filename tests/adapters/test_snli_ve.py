"""snli-ve adapter: the real 16-pair sample and JSON-lines faults."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest

from mmbench.adapters.base import AdapterError
from mmbench.data import info, load
from tests.adapters import _helpers as helpers
from tests.fakes.snli_ve import pair, write_fake

CLASSES = ["entailment", "neutral", "contradiction"]


adapter = partial(helpers.make_adapter, "snli-ve")
run = partial(helpers.run, "snli-ve")


def test_real_sample(realdata: Path, isolated_home: Path) -> None:
    root = realdata / "snli_ve"
    report, rejected = run(root, isolated_home, files="dev=sample_pairs.jsonl",
                           image_dir="images")
    assert (report.read, report.kept, rejected) == (16, 16, [])
    meta_info = info("snli-ve", isolated_home)
    assert meta_info.class_names == CLASSES
    assert meta_info.tasks == ["visual-entailment", "classification"]
    records = list(load("snli-ve", isolated_home)["dev"])
    images = [r["images"][0]["path"] for r in records]
    assert images == ["images/2248275918.jpg"] * 15 + ["images/402978771.jpg"]
    labels = [CLASSES[r["label"]] for r in records]
    assert labels.count("entailment") == 6 and labels.count("contradiction") == 4
    first = records[0]
    assert first["id"] == "2248275918.jpg#2r1c" and first["label"] == 2
    assert first["text"] == "A toddler poses in front of a computer at a business office."
    assert first["hypothesis"] == "A toddler sleeps outside."
    # The pairID suffix is the writer's intent; the label is the annotators' gold label.
    sixth = records[5]
    assert sixth["id"] == "2248275918.jpg#3r1c" and CLASSES[sixth["label"]] == "neutral"
    last = records[-1]
    assert (last["id"], last["hypothesis"], last["label"]) == (
        "402978771.jpg#1r1e", "The woman is sitting outside.", 0)
    meta = json.loads(first["meta"])
    assert meta["Flickr30K_ID"] == "2248275918" and meta["annotator_labels"] == ["contradiction"]
    assert meta["captionID"] == "2248275918.jpg#2" and "sentence2_binary_parse" in meta


def test_fake_official_layout(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "snli_ve"
    expected = write_fake(root)
    report, rejected = run(root, isolated_home)
    assert report.kept == expected == 12 and rejected == []
    assert list(report.splits) == ["train", "dev", "test"]
    dev = list(load("snli-ve", isolated_home)["dev"])
    assert [r["images"][0]["path"] for r in dev] == ["flickr30k_images/2001.jpg"] * 3
    assert [r["label"] for r in dev] == [0, 1, 2]


def test_line_faults_are_reported(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "snli_ve"
    write_fake(root)
    no_image = {**pair("2001", 1, "neutral")}
    del no_image["Flickr30K_ID"]
    bad = [
        json.dumps({**pair("2001", 1, "entailment"), "gold_label": "-"}),  # line 4
        json.dumps({**pair("2001", 2, "entailment"), "gold_label": "yes"}),  # 5
        json.dumps({**pair("2001", 3, "entailment"), "sentence2": None}),  # 6
        json.dumps(no_image),  # 7
        json.dumps(pair("9999", 1, "neutral")),  # 8: image file absent
        json.dumps(pair("2001", 0, "entailment")),  # 9: pairID repeats line 1
        '{"pairID": "x", ',  # 10: broken JSON
    ]
    with (root / "snli_ve_dev.jsonl").open("a", encoding="utf-8") as handle:
        handle.write("\n".join(bad) + "\n")
    with (root / "snli_ve_dev.jsonl").open("ab") as handle:
        handle.write(b'{"pairID": "\xff"}\n')  # 11: invalid UTF-8
    report, rejected = run(root, isolated_home)
    assert {(r["split"], r["file"]) for r in rejected} == {("dev", "snli_ve_dev.jsonl")}
    found = {r["locator"]: r["reason"] for r in rejected}
    assert found["line 4"] == "no gold label ('-': annotators disagreed)"
    assert found["line 5"].startswith("unknown gold_label 'yes'")
    assert found["line 6"] == "missing sentence2"
    assert found["line 7"] == "missing Flickr30K_ID"
    assert found["line 8"] == "missing image file: flickr30k_images/9999.jpg"
    assert found["line 9"].startswith("duplicate id: '2001.jpg#0r1e'")
    assert found["line 10"].startswith("broken JSON")
    assert found["line 11"].startswith("invalid UTF-8")
    assert len(found) == 8 and report.splits["dev"].kept == 3


def test_unreadable_corpus_raises(tmp_path: Path, isolated_home: Path) -> None:
    helpers.assert_root_errors(adapter(), tmp_path, isolated_home, empty="snli_ve_")
    with pytest.raises(AdapterError, match="pairs.jsonl is missing"):
        adapter(files="dev=pairs.jsonl").splits(tmp_path / "empty")
