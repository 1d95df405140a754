"""karpathy: Karpathy-split caption json (COCO / Flickr8k / Flickr30k) and its faults."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest

from mmbench.adapters.base import AdapterError
from mmbench.data import build, load
from tests.adapters import _helpers as helpers
from tests.fakes import karpathy as fake

NAME = "karpathy"


adapter = partial(helpers.make_adapter, NAME)
rejections = partial(helpers.rejections, dataset=NAME)


def test_real_sample(realdata: Path) -> None:
    found = sorted(realdata.rglob("dataset_*.json"))
    if not found:
        pytest.skip("no Karpathy dataset_{coco,flickr8k,flickr30k}.json sample in shared/realdata "
                    "(the fake corpus tests below cover the format)")
    for path in found:  # whatever sample appears later must at least parse cleanly
        a = adapter(json_file=path.name)
        assert set(a.splits(path.parent)) <= {"train", "restval", "val", "test"}


def test_coco_splits_and_joins(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "raw"
    assert fake.write_fake(root) == 5
    assert adapter().splits(root) == ["train", "restval", "val", "test"]
    report = build(adapter(), root, home=isolated_home)
    counts = {s: (r.kept, r.rejected) for s, r in report.splits.items()}
    assert counts == {"train": (2, 0), "restval": (1, 0), "val": (1, 0), "test": (1, 0)}
    row = load(NAME, home=isolated_home)["test"][0]
    assert row["id"] == "val2014/COCO_val2014_000000391895.jpg"
    assert row["images"][0]["path"] == "val2014/COCO_val2014_000000391895.jpg"
    # raw captions are kept as written, trailing space included
    assert row["captions"] == ["A man with a red helmet on a small moped on a dirt road. ",
                               "Man riding a motor bike on a dirt road."]
    assert row["source"] == {"dataset": NAME, "file": "dataset_coco.json", "locator": "images[0]"}
    meta = json.loads(row["meta"])
    assert meta["sentids"] == [0, 1] and meta["image"] == {"cocoid": 391895, "imgid": 0,
                                                           "sentids": [0, 1]}
    assert meta["tokens"][1] == ["man", "riding", "a", "motor", "bike", "on", "a", "dirt", "road"]
    assert (meta["dataset"], meta["karpathy_split"]) == ("coco", "test")
    assert meta["filepath"] == "val2014"


def test_fold_restval(tmp_path: Path, isolated_home: Path) -> None:
    fake.write_fake(tmp_path / "raw")
    a = adapter(fold_restval=True)
    assert a.splits(tmp_path / "raw") == ["train", "val", "test"]
    build(a, tmp_path / "raw", home=isolated_home)
    train = load(NAME, home=isolated_home)["train"]
    assert len(train) == 3
    assert json.loads(train[0]["meta"])["karpathy_split"] == "restval"  # file order kept


def test_flickr_layout_autodetects_image_dir(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "f30k"
    root.mkdir()
    images = [{"sentids": [0], "imgid": 0, "split": "test", "filename": "1000092795.jpg",
               "sentences": [{"tokens": ["two", "guys"], "raw": "Two guys .", "imgid": 0,
                              "sentid": 0}]},
              {"sentids": [], "imgid": 1, "split": "train", "filename": "10002456.jpg",
               "sentences": []}]
    payload = {"images": images, "dataset": "flickr30k"}
    (root / "dataset_flickr30k.json").write_text(json.dumps(payload))
    fake.write_images(root, payload, "flickr30k-images")
    report = build(adapter(), root, home=isolated_home)
    assert (report.kept, report.rejected) == (2, 0)
    ds = load(NAME, home=isolated_home)
    assert ds["test"][0]["id"] == "1000092795.jpg"
    assert ds["test"][0]["images"][0]["path"] == "flickr30k-images/1000092795.jpg"
    assert json.loads(ds["train"][0]["meta"])["no_captions"] is True
    build(adapter(image_dir="elsewhere"), root, home=isolated_home)
    assert {r["reason"] for r in rejections(isolated_home)} == {
        "missing image file: elsewhere/1000092795.jpg",
        "missing image file: elsewhere/10002456.jpg"}


def test_bad_entries_are_rejected(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "raw"
    fake.write_fake(root)
    payload = json.loads((root / "dataset_coco.json").read_text())
    good = payload["images"][0]
    payload["images"] += [
        "junk",                                               # 5
        {**good, "filename": ""},                             # 6
        {**good, "split": None},                              # 7
        {**good, "sentences": None},                          # 8
        {**good, "sentences": [{"tokens": []}]},              # 9
        {**good, "filepath": 7},                              # 10
        {**good},                                             # 11 duplicate id of images[0]
        {**good, "filename": "COCO_val2014_gone.jpg"},        # 12 no file on disk
    ]
    (root / "dataset_coco.json").write_text(json.dumps(payload))
    report = build(adapter(), root, home=isolated_home)
    assert (report.read, report.kept, report.rejected) == (13, 5, 8)
    got = {r["locator"]: (r["split"], r["reason"]) for r in rejections(isolated_home)}
    assert all(r["file"] == "dataset_coco.json" for r in rejections(isolated_home))
    assert got["images[5]"] == ("train", "image entry is not a JSON object")
    assert got["images[6]"] == ("train", "missing 'filename'")
    assert got["images[7]"] == ("train", "missing 'split'")
    assert got["images[8]"] == ("train", "missing 'sentences' list")
    assert got["images[9]"] == ("train", "sentences[0] has no 'raw' string")
    assert got["images[10]"] == ("train", "'filepath' is not a string")
    assert got["images[11]"][0] == "test"
    assert got["images[11]"][1].startswith("duplicate id: 'val2014/COCO_val2014_000000391895.jpg'")
    assert got["images[12]"] == ("test", "missing image file: val2014/COCO_val2014_gone.jpg")


def test_file_choice_and_errors(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="does not exist"):
        adapter().splits(tmp_path / "nope")
    root = tmp_path / "raw"
    root.mkdir()
    with pytest.raises(AdapterError, match="dataset_coco.json is missing"):
        adapter().splits(root)
    (root / "dataset_flickr8k.json").write_text('{"images": [')
    with pytest.raises(AdapterError, match="not valid JSON"):
        adapter().splits(root)
    (root / "dataset_flickr8k.json").write_text('{"dataset": "flickr8k"}')
    with pytest.raises(AdapterError, match="no 'images' list"):
        adapter().splits(root)
    fake.write_fake(root)
    with pytest.raises(AdapterError, match="several Karpathy files"):
        adapter().splits(root)
    assert adapter(json_file="dataset_coco.json").splits(root)[0] == "train"
    with pytest.raises(AdapterError, match="other.json is missing"):
        adapter(json_file="other.json").splits(root)
