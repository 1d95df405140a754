"""coco-captions: the real COCO annotation samples, and faults of the COCO json format."""

from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from mmbench.adapters.base import AdapterError
from mmbench.data import build, load
from tests.adapters import _helpers as helpers
from tests.fakes import coco_captions as fake
from tests.fakes._images import jpeg_bytes

NAME = "coco-captions"
PARTS = ("train", "val")


adapter = partial(helpers.make_adapter, NAME)
rejections = partial(helpers.rejections, dataset=NAME)


def real_root(tmp_path: Path, realdata: Path, year: str) -> Path:
    """Copy the real samples under their published names (a link would lead outside the
    corpus root); write a tiny jpeg per image."""
    root = tmp_path / f"coco{year}"
    (root / "annotations").mkdir(parents=True)
    for part in PARTS:
        sample = realdata / "coco_captions" / f"captions_{part}{year}.json_samples.json"
        shutil.copyfile(sample, root / "annotations" / f"captions_{part}{year}.json")
        folder = root / f"{part}{year}"
        folder.mkdir()
        for i, image in enumerate(json.loads(sample.read_text())["images"]):
            (folder / image["file_name"]).write_bytes(jpeg_bytes(i))
    return root


# (year, split) -> (kept, rejected orphan annotations, image id with captions, caption count)
REAL = {
    ("2017", "train"): (100, 100, {}),
    ("2017", "val"): (100, 91, {331352: 5, 289393: 4}),
    ("2014", "train"): (100, 100, {}),
    ("2014", "val"): (100, 96, {331352: 4}),
}


@pytest.mark.parametrize("year", ["2017", "2014"])
def test_real_samples_counts_and_joins(realdata: Path, tmp_path: Path, isolated_home: Path,
                                       year: str) -> None:
    root = real_root(tmp_path, realdata, year)
    report = build(adapter(year=year), root, home=isolated_home)
    assert report.read == report.kept + report.rejected
    ds = load(NAME, home=isolated_home)
    for part in PARTS:
        kept, orphans, captioned = REAL[(year, part)]
        assert report.splits[part].kept == kept and report.splits[part].rejected == orphans
        rows = ds[part]
        with_captions = {int(r["id"]): len(r["captions"]) for r in rows if r["captions"]}
        assert with_captions == captioned
        for row in rows:
            meta = json.loads(row["meta"])
            assert meta.get("no_captions", False) == (int(row["id"]) not in captioned)
            assert row["images"][0]["path"].startswith(f"{part}{year}/")
    rejected = rejections(isolated_home)
    assert all(r["reason"].startswith("annotation id ") and "is not in images[]" in r["reason"]
               for r in rejected)
    assert len(rejected) == report.rejected


def test_real_val2017_caption_join(realdata: Path, tmp_path: Path, isolated_home: Path) -> None:
    root = real_root(tmp_path, realdata, "2017")
    build(adapter(), root, home=isolated_home)  # auto picks 2017
    rows = {r["id"]: r for r in load(NAME, home=isolated_home)["val"]}
    toilet = rows["331352"]
    assert toilet["images"][0]["path"] == "val2017/000000331352.jpg"
    assert toilet["captions"][0] == "A small closed toilet in a cramped space."
    assert toilet["captions"][4] == "Off white toilet with a faucet and controls. "
    meta = json.loads(toilet["meta"])
    assert meta["caption_ids"] == [441, 540, 981, 1392, 2970]
    assert meta["image"]["coco_url"].endswith("val2017/000000331352.jpg")
    assert toilet["source"]["locator"] == "images[9] id=331352"
    first = next(r for r in rejections(isolated_home) if r["split"] == "val")
    assert first == {"split": "val", "file": "annotations/captions_val2017.json",
                     "locator": "annotations[0] id=38",
                     "reason": "annotation id 38: image_id 179765 is not in images[]"}


def write(root: Path, part: str, payload: Any) -> None:
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / f"captions_{part}2017.json").write_text(json.dumps(payload))


def test_bad_annotations_and_images_are_rejected(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "raw"
    payload = fake.coco_file({1: ["ok"], 2: ["fine"]}, "val")
    payload["images"] += [{"id": 1, "file_name": "dup.jpg"}, {"file_name": "noid.jpg"},
                          {"id": 5}, {"id": 6, "file_name": "000000000006.jpg"}]
    payload["annotations"] += [{"id": 7, "image_id": 2}, {"id": 8, "caption": "no image id"},
                               {"id": 9, "image_id": 1, "caption": "   "}, "junk",
                               {"id": 10, "image_id": 99, "caption": "orphan"}]
    write(root, "val", payload)
    fake.write_images(root, "val2017", {1: [], 2: []})  # image 6 has no file on disk
    report = build(adapter(), root, home=isolated_home)
    assert (report.read, report.kept, report.rejected) == (11, 2, 9)
    got = {(r["locator"], r["reason"]) for r in rejections(isolated_home)}
    assert ("images[2] id=1", "duplicate image id 1 (first at images[0])") in got
    assert ("images[3]", "image entry has no integer 'id'") in got
    assert ("images[4] id=5", "image entry has no 'file_name'") in got
    assert ("images[5] id=6", "missing image file: val2017/000000000006.jpg") in got
    assert ("annotations[2] id=7", "annotation id 7: missing or non-string 'caption'") in got
    assert ("annotations[3] id=8",
            "annotation id 8: missing or non-integer 'image_id'") in got
    assert ("annotations[4] id=9", "annotation id 9: empty caption") in got
    assert ("annotations[5] id=None", "annotation id None: annotation is not a JSON object") in got
    assert ("annotations[6] id=10", "annotation id 10: image_id 99 is not in images[]") in got
    assert all(r["file"] == "annotations/captions_val2017.json" for r in rejections(isolated_home))


def test_files_at_root_year_choice_and_image_dir(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "raw"
    root.mkdir()
    payload = fake.coco_file({4: ["c"]}, "val", "2014")
    (root / "captions_val2014.json").write_text(json.dumps(payload))
    fake.write_images(root, "imgs", {4: []})
    a = adapter(image_dir="imgs")
    assert a.splits(root) == ["val"] and a.info(root).extra == {"year": "2014"}
    report = build(a, root, home=isolated_home)
    assert report.kept == 1
    assert load(NAME, home=isolated_home)["val"][0]["images"][0]["path"] == "imgs/000000000004.jpg"
    with pytest.raises(AdapterError, match="captions_"):
        adapter(year="2017").splits(root)
    with pytest.raises(AdapterError, match="year must be"):
        adapter(year="2015").splits(root)
    with pytest.raises(AdapterError, match="may only use"):
        list(adapter(image_dir="{part}").examples(root, "val"))


def test_missing_root_and_broken_json(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="does not exist"):
        adapter().splits(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AdapterError, match="captions_"):
        adapter().splits(tmp_path / "empty")
    root = tmp_path / "broken"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "captions_val2017.json").write_bytes(b'{"images": [')
    with pytest.raises(AdapterError, match="not valid JSON"):
        list(adapter().examples(root, "val"))
    write(root, "val", {"images": []})
    with pytest.raises(AdapterError, match="'annotations'"):
        list(adapter().examples(root, "val"))
