"""flickr-token: the real Flickr8k text files, and faults of token files and split lists."""

from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path

import pytest

from mmbench.adapters.base import AdapterError
from mmbench.data import build, load
from tests.adapters import _helpers as helpers
from tests.fakes import flickr_token as fake
from tests.fakes._images import jpeg_bytes

NAME = "flickr-token"
LISTS = ("Flickr_8k.trainImages.txt", "Flickr_8k.devImages.txt", "Flickr_8k.testImages.txt")


adapter = partial(helpers.make_adapter, NAME)
rejections = partial(helpers.rejections, dataset=NAME)


def real_root(tmp_path: Path, realdata: Path) -> Path:
    """Copy the real text files under their published names (a link would lead outside the
    corpus root); a tiny jpeg per captioned image."""
    src = realdata / "flickr8k_native"
    root = tmp_path / "flickr8k"
    (root / "Flicker8k_Dataset").mkdir(parents=True)
    for name in LISTS:
        shutil.copyfile(src / name, root / name)
    shutil.copyfile(src / "Flickr8k.token.head500.txt", root / "Flickr8k.token.txt")
    names = {line.split("#")[0] for line in (src / "Flickr8k.token.head500.txt").read_text()
             .splitlines()}
    for i, name in enumerate(sorted(names)):
        (root / "Flicker8k_Dataset" / name).write_bytes(jpeg_bytes(i))
    return root


def test_real_flickr8k_counts_and_joins(realdata: Path, tmp_path: Path,
                                        isolated_home: Path) -> None:
    root = real_root(tmp_path, realdata)
    assert adapter().splits(root) == ["train", "val", "test"]  # every captioned image is listed
    report = build(adapter(), root, home=isolated_home)
    # head500 = first 100 images x 5 captions: 81 train, 13 dev, 6 test; every other
    # split-list line (incl. the appended non-Flickr 'e*' bird images) has no caption.
    counts = {s: (r.kept, r.rejected) for s, r in report.splits.items()}
    assert counts == {"train": (81, 5993), "val": (13, 1000), "test": (6, 1007)}
    assert (report.read, report.kept, report.rejected) == (8100, 100, 8000)
    ds = load(NAME, home=isolated_home)
    assert all(len(c) == 5 for split in ds for c in ds[split]["captions"])
    train = {r["id"]: r for r in ds["train"]}
    assert list(train)[0] == "103205630_682ca7285b.jpg"  # split-list order (line 97)
    child = next(r for s in ds for r in ds[s] if r["id"] == "1000268201_693b08cb0e.jpg")
    assert child["captions"][0] == ("A child in a pink dress is climbing up a set of stairs "
                                    "in an entry way .")
    assert child["images"][0]["path"] == "Flicker8k_Dataset/1000268201_693b08cb0e.jpg"
    assert child["source"] == {"dataset": NAME, "file": "Flickr8k.token.txt", "locator": "line 1"}
    assert json.loads(child["meta"])["caption_lines"] == [1, 2, 3, 4, 5]
    assert ds["val"][0]["id"] == "1022454332_6af2c1449a.jpg"
    assert json.loads(ds["val"][0]["meta"])["listed_at"] == "Flickr_8k.devImages.txt line 115"
    rejected = rejections(isolated_home)
    assert rejected[0] == {"split": "train", "file": "Flickr_8k.trainImages.txt",
                           "locator": "line 1", "reason": "image 2513260012_03d33305cf.jpg "
                           "has no captions in Flickr8k.token.txt"}
    bird = {"split": "val", "file": "Flickr_8k.devImages.txt", "locator": "line 1013",
            "reason": "image e11_1.jpg has no captions in Flickr8k.token.txt"}
    assert bird in rejected


def write_corpus(root: Path, token: bytes, lists: dict[str, str], images: list[str]) -> None:
    root.mkdir(parents=True)
    (root / "Flickr8k.token.txt").write_bytes(token)
    for split, text in lists.items():
        (root / f"Flickr_8k.{split}Images.txt").write_text(text)
    fake.write_images(root, images)


def test_token_and_split_list_faults(tmp_path: Path, isolated_home: Path) -> None:
    token = (b"a.jpg#0\tfirst\r\n"          # 1 CRLF is fine
             b"a.jpg#1\tsecond\n"           # 2
             b"no tab here\n"               # 3 rejected
             b"b.jpg#x\tbad index\n"        # 4 rejected
             b"b.jpg#0\t   \n"              # 5 rejected: empty caption
             b"b.jpg#0\t\xff\xfe caption\n"  # 6 rejected: invalid UTF-8
             b"\n"                          # blank: not a row
             b"b.jpg#0\tbee\n"              # 8
             b"a.jpg#1\tagain\n"            # 9 rejected: duplicate caption id
             b"c.jpg#0\tno file on disk\n"  # 10 record, then missing image
             b"d.jpg#0\tunlisted")          # 11 no newline at end; split 'unassigned'
    lists = {"train": "a.jpg\nb.jpg\na.jpg\nzzz.jpg\n", "dev": "b.jpg\nc.jpg\n\xe9.jpg\n",
             "test": ""}
    write_corpus(tmp_path / "raw", token, lists, ["a.jpg", "b.jpg", "d.jpg"])
    (tmp_path / "raw" / "Flickr_8k.testImages.txt").write_bytes(b"\xff.jpg\n")
    report = build(adapter(), tmp_path / "raw", home=isolated_home)
    assert report.read == report.kept + report.rejected
    counts = {s: (r.kept, r.rejected) for s, r in report.splits.items()}
    assert counts == {"train": (2, 7), "val": (0, 3), "test": (0, 1), "unassigned": (1, 0)}
    got = {(r["split"], r["file"], r["locator"]): r["reason"] for r in rejections(isolated_home)}
    tok = "Flickr8k.token.txt"
    assert got[("train", tok, "line 3")] == "no TAB between caption id and caption"
    assert got[("train", tok, "line 4")] == "caption id 'b.jpg#x' is not <image>#<n>"
    assert got[("train", tok, "line 5")] == "empty caption for b.jpg#0"
    assert got[("train", tok, "line 6")].startswith("invalid UTF-8")
    assert got[("train", tok, "line 9")] == "duplicate caption id a.jpg#1 (first on line 2)"
    train = "Flickr_8k.trainImages.txt"
    assert got[("train", train, "line 3")] == ("image a.jpg is already listed at "
                                               "Flickr_8k.trainImages.txt line 1")
    assert got[("train", train, "line 4")] == f"image zzz.jpg has no captions in {tok}"
    dev = "Flickr_8k.devImages.txt"
    assert got[("val", dev, "line 1")] == ("image b.jpg is already listed at "
                                           "Flickr_8k.trainImages.txt line 2")
    assert got[("val", tok, "line 10")] == "missing image file: Flicker8k_Dataset/c.jpg"
    assert got[("val", dev, "line 3")] == f"image \xe9.jpg has no captions in {tok}"
    assert got[("test", "Flickr_8k.testImages.txt", "line 1")].startswith("invalid UTF-8")
    ds = load(NAME, home=isolated_home)
    a, b = ds["train"]
    assert (a["id"], a["captions"], b["captions"]) == ("a.jpg", ["first", "second"], ["bee"])
    assert json.loads(b["meta"])["caption_lines"] == [8]
    assert ds["unassigned"][0]["captions"] == ["unlisted"]


def test_reject_unlisted(tmp_path: Path, isolated_home: Path) -> None:
    fake.write_fake(tmp_path / "raw")
    a = adapter(reject_unlisted=True)
    assert a.splits(tmp_path / "raw") == ["train", "val", "test"]
    report = build(a, tmp_path / "raw", home=isolated_home)
    assert (report.kept, report.rejected) == (4, 1)
    assert rejections(isolated_home) == [{"split": "train", "file": "Flickr8k.token.txt",
                                          "locator": "line 10",
                                          "reason": "image 1004_ee.jpg is in no split list"}]


def test_flickr30k_layout_without_split_lists(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "f30k"
    root.mkdir()
    lines = fake.token_lines({"1000092795.jpg": ["Two young guys .", "Two men ."],
                              "10002456.jpg": ["Workers ."]})
    (root / "results_20130124.token").write_text("\n".join(lines) + "\n")
    fake.write_images(root, ["1000092795.jpg", "10002456.jpg"], "flickr30k-images")
    assert adapter().splits(root) == ["unassigned"]
    report = build(adapter(), root, home=isolated_home)
    assert report.kept == 2 and report.rejected == 0
    row = load(NAME, home=isolated_home)["unassigned"][0]
    assert row["images"][0]["path"] == "flickr30k-images/1000092795.jpg"
    assert json.loads(row["meta"])["listed_at"] is None


def test_options(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "raw"
    root.mkdir()
    (root / "caps.txt").write_text("x.jpg#0\tex\ny.jpg#0\twhy\n")
    (root / "tr.txt").write_text("x.jpg\n")
    (root / "te.txt").write_text("y.jpg\n")
    fake.write_images(root, ["x.jpg", "y.jpg"], "pics")
    a = adapter(token_file="caps.txt", image_dir="pics", split_lists="train=tr.txt, test=te.txt")
    assert a.splits(root) == ["train", "test"]
    report = build(a, root, home=isolated_home)
    assert {s: r.kept for s, r in report.splits.items()} == {"train": 1, "test": 1}
    with pytest.raises(AdapterError, match="not name=file"):
        adapter(token_file="caps.txt", split_lists="tr.txt").splits(root)
    with pytest.raises(AdapterError, match="missing"):
        adapter(token_file="caps.txt", split_lists="train=nope.txt").splits(root)
    with pytest.raises(AdapterError, match="no image folder"):
        list(adapter(token_file="caps.txt").examples(root, "unassigned"))


def test_missing_root_and_token_file(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="does not exist"):
        adapter().splits(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AdapterError, match="Flickr8k.token.txt is missing"):
        adapter().splits(tmp_path / "empty")
    with pytest.raises(AdapterError, match="other.token is missing"):
        adapter(token_file="other.token").splits(tmp_path / "empty")
