"""webdataset adapter: the real shards in ../shared/realdata/webdataset and bad shards."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from mmbench.adapters.base import AdapterError
from mmbench.data import IngestReport, load
from tests.adapters._helpers import ingest, make_adapter, rejections
from tests.fakes._images import image_bytes, jpeg_bytes
from tests.fakes.webdataset import write_fake, write_tar

NEMO_CAPTION = "A wine bottle outfitted with two forks in its cork and a duck head on top."
CLIP_KEYS = {"123_456", "208_495", "321_421", "389_535", "416_264", "456_123", "524_316"}
MNIST_LABELS = {0: 7, 1: 12, 2: 7, 3: 11, 4: 12, 5: 6, 6: 10, 7: 14, 8: 2, 9: 9}


_adapter = partial(make_adapter, "webdataset")


Rejected = list[dict[str, Any]]


def _build(root: Path, home: Path, **options: Any) -> tuple[IngestReport, Any, Rejected]:
    report = ingest("webdataset", root, home, dataset="wds", **options)
    return report, load("wds", home), rejections(home, "wds")


def _member(tf: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE,
            link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, len(data), link
    tf.addfile(info, io.BytesIO(data) if data else None)


# -- real data -----------------------------------------------------------------------


def test_real_three_sources_as_splits(realdata: Path, isolated_home: Path) -> None:
    root = realdata / "webdataset"
    report, ds, rejected = _build(root, isolated_home)
    assert rejected == []
    assert {s: r.kept for s, r in report.splits.items()} == {
        "clip_retrieval_image_only": 7, "nemo_curator": 1, "webdataset_testdata": 90}
    info = _adapter().info(root)
    assert info.class_names == [str(i) for i in range(10)]
    assert info.tasks == ("classification", "linear-probe", "retrieval")

    (nemo,) = ds["nemo_curator"]
    assert nemo["id"] == "nemo_curator/00000.tar#0"
    assert nemo["captions"] == [NEMO_CAPTION] and nemo["label"] is None
    assert json.loads(nemo["meta"])["json"] == {"id": "0", "caption": NEMO_CAPTION}
    with tarfile.open(root / "nemo_curator" / "00000.tar") as tf:
        member = tf.extractfile("0.jpg")
        assert member is not None
        jpg = member.read()
    assert len(jpg) == 225807
    image = nemo["images"][0]
    assert image["sha256"] == hashlib.sha256(jpg).hexdigest() and image["format"] == "JPEG"
    assert image["path"] == "nemo_curator/00000.tar/0.jpg"

    clip = ds["clip_retrieval_image_only"]
    assert {r["id"].partition("#")[2] for r in clip} == CLIP_KEYS
    for rec in clip:  # the file names encode width_height: the right bytes joined to each key
        width, height = rec["id"].partition("#")[2].split("_")
        assert (rec["images"][0]["width"], rec["images"][0]["height"]) == (int(width), int(height))
        assert rec["captions"] == [] and rec["label"] is None

    mnist = ds["webdataset_testdata"]
    assert Counter(mnist["label"]) == MNIST_LABELS
    first = mnist[0]
    assert first["id"] == "webdataset_testdata/sample.tgz#10" and first["label"] == 0
    assert {(r["images"][0]["width"], r["images"][0]["format"]) for r in mnist} == {(28, "PNG")}


def test_real_shard_folder_as_root_and_require_caption(realdata: Path, isolated_home: Path) -> None:
    root = realdata / "webdataset" / "clip_retrieval_image_only"
    assert _adapter().splits(root) == ["train"]
    assert _adapter().info(root).tasks == ()
    report, _, rejected = _build(root, isolated_home, require_caption=True)
    assert (report.read, report.kept, report.rejected) == (7, 0, 7)
    assert {r["file"] for r in rejected} == {"image1.tar", "image2.tar"}
    assert {r["locator"] for r in rejected} == {f"key {k}" for k in CLIP_KEYS}
    assert all("no caption" in r["reason"] for r in rejected)


# -- layout and options ----------------------------------------------------------------


def test_fake_layout_and_classnames(tmp_path: Path, isolated_home: Path) -> None:
    assert write_fake(tmp_path) == 5
    (tmp_path / "zeroshot_classification_templates.txt").write_text("a photo of a {c}.\n")
    info = _adapter().info(tmp_path)
    assert info.class_names == ["cat", "dog"] and info.extra == {"templates": ["a photo of a {c}."]}
    _, ds, rejected = _build(tmp_path, isolated_home)
    assert rejected == []
    train = {r["id"]: r for r in ds["train"]}
    assert train["train/000000.tar#s000"]["captions"] == ["a cat on a mat", "a sleepy cat"]
    assert train["train/000000.tar#s001"]["captions"] == ["a dog"]
    assert train["train/000000.tar#s001"]["label"] == 1
    assert train["train/000000.tar#sub/s002"]["label"] == 1  # "dog" by name
    assert ds["test"]["captions"][0] == ["un chat, à Paris"]


def test_top_level_shards_split_by_name(tmp_path: Path) -> None:
    for name in ("train-000.tar", "test_000.tar", "shard-9.tar", "shard-10.tar"):
        write_tar(tmp_path / name, [("a.png", image_bytes(1))])
    assert _adapter().shards(tmp_path) == {
        "test": [tmp_path / "test_000.tar"],
        "train": [tmp_path / "shard-9.tar", tmp_path / "shard-10.tar", tmp_path / "train-000.tar"],
    }
    assert _adapter(split="all", split_pattern="^$").splits(tmp_path) == ["all"]


def test_missing_root_or_no_shards(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="does not exist"):
        _adapter().splits(tmp_path / "absent")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(AdapterError, match="no .tar"):
        _adapter().splits(tmp_path)


# -- bad input -------------------------------------------------------------------------


def test_unsafe_members_are_refused(tmp_path: Path, isolated_home: Path) -> None:
    with tarfile.open(tmp_path / "evil.tar", "w") as tf:
        _member(tf, "ok.png", image_bytes(1))
        _member(tf, "ok.lnk", kind=tarfile.SYMTYPE, link="/etc/passwd")
        _member(tf, "ok.txt", b"a caption")
        _member(tf, "/etc/abs.png", image_bytes(2))
        _member(tf, "../up.png", image_bytes(3))
        _member(tf, "hard.png", kind=tarfile.LNKTYPE, link="ok.png")
        _member(tf, "dev.png", kind=tarfile.CHRTYPE)
        _member(tf, "noext", b"x")
    report, ds, rejected = _build(tmp_path, isolated_home)
    assert ds["train"]["captions"] == [["a caption"]]  # the refused link did not split ok
    got = {r["locator"]: r["reason"] for r in rejected}
    assert got["member ok.lnk"].startswith("symlink member refused")
    assert got["member /etc/abs.png"].startswith("unsafe member path")
    assert got["member ../up.png"].startswith("unsafe member path")
    assert got["member hard.png"].startswith("hardlink member refused")
    assert got["member dev.png"].startswith("device member refused")
    assert "key.extension" in got["member noext"]
    assert {r["file"] for r in rejected} == {"evil.tar"}
    assert (report.read, report.kept, report.rejected) == (7, 1, 6)


def test_bad_samples(tmp_path: Path, isolated_home: Path) -> None:
    (tmp_path / "classnames.txt").write_text("cat\ndog\n")
    write_tar(tmp_path / "train" / "0.tar", [
        ("good.png", image_bytes(1)), ("good.cls", b"0"),
        ("textonly.txt", b"no picture here"),
        ("badjson.png", image_bytes(2)), ("badjson.json", b"{\"caption\": "),
        ("badutf.png", image_bytes(3)), ("badutf.txt", b"caf\xe9"),
        ("biglabel.png", image_bytes(4)), ("biglabel.cls", b"7"),
        ("zebra.png", image_bytes(5)), ("zebra.cls", b"zebra"),
        ("twice.png", image_bytes(6)), ("twice.png", image_bytes(7)),
        ("notimg.jpg", b"these are not jpeg bytes"),
        ("cut.jpg", jpeg_bytes(8, size=(64, 64))[:-10]),
        ("good.png", image_bytes(9)), ("good.txt", b"good again, later in the shard"),
    ])
    report, ds, rejected = _build(tmp_path, isolated_home)
    got = {r["locator"]: r["reason"] for r in rejected}
    assert {r["file"] for r in rejected} == {"train/0.tar"}
    assert got["key textonly"] == "sample has no image member (has: txt)"
    assert got["key badjson"].startswith("broken JSON in .json member")
    assert got["key badutf"].startswith("invalid UTF-8 in .txt member")
    assert got["key biglabel"] == "unknown label 7 (classnames.txt has 2 classes)"
    assert got["key zebra"] == "unknown label 'zebra' in .cls member"
    assert got["member twice.png"] == "duplicate member in sample"
    assert got["key notimg"].startswith("not a readable image")
    assert got["key cut"].startswith("truncated JPEG data")
    # A key that comes back after others is a second sample with the same id.
    assert got["key good"].startswith("duplicate id: 'train/0.tar#good'")
    assert sorted(ds["train"]["id"]) == ["train/0.tar#good", "train/0.tar#twice"]
    assert (report.read, report.kept, report.rejected) == (11, 2, 9)


def _shard_bytes() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        for i in range(3):
            _member(tf, f"k{i}.png", image_bytes(i, size=(40, 40)))
            _member(tf, f"k{i}.txt", f"caption {i}".encode())
    return out.getvalue()


@pytest.mark.parametrize("case", ["gz-cut", "tar-cut-in-member", "tar-cut-at-header",
                                  "bad-header", "garbage", "empty"])
def test_corrupt_shard_is_rejected_by_name(case: str, tmp_path: Path, isolated_home: Path) -> None:
    data = _shard_bytes()
    third = data.index(b"k2.png")  # the header of the third sample
    shard = {
        "gz-cut": lambda: gzip.compress(data)[:300],
        "tar-cut-in-member": lambda: data[: third + 512 + 10],
        "tar-cut-at-header": lambda: data[:third],
        "bad-header": lambda: data[:third] + b"\x07" * 512 + data[third + 512:],
        "garbage": lambda: b"not a tar at all" * 64,
        "empty": lambda: b"",
    }[case]()
    (tmp_path / "bad.tar").write_bytes(shard)
    write_tar(tmp_path / "good.tar", [("g.png", image_bytes(9))])
    report, ds, rejected = _build(tmp_path, isolated_home)
    assert ds["train"]["id"][-1] == "good.tar#g"  # the next shard is still read
    assert rejected and {r["file"] for r in rejected} == {"bad.tar"}
    assert any("tar" in r["reason"] for r in rejected)
    assert report.read == report.kept + report.rejected
    if case in ("tar-cut-in-member", "tar-cut-at-header", "bad-header"):
        # Whole samples before the damage are kept; the open one is reported as cut off.
        assert ds["train"]["id"][:1] == ["bad.tar#k0"]
        assert rejected[0]["locator"] == "key k1"
        assert rejected[0]["reason"].startswith("sample cut off")
        assert rejected[1]["locator"] == "after member k1.txt"


def test_shipped_templates_reach_the_dataset_info_and_its_fingerprint(tmp_path: Path, isolated_home: Path) -> None:
    """A corpus's zeroshot_classification_templates.txt is kept in its info, and a build with
    other templates is another build (its zero-shot scores differ)."""
    from mmbench import data

    fingerprints = []
    for n, shipped in enumerate(("a photo of a {c}.", "a drawing of a {c}.")):
        root = tmp_path / f"corpus-{n}"
        root.mkdir()
        write_fake(root)
        (root / "zeroshot_classification_templates.txt").write_text(shipped + "\n")
        ingest("webdataset", root, isolated_home, dataset=f"wds{n}")
        info = data.info(f"wds{n}", isolated_home)
        assert info.prompt_templates == [shipped]
        fingerprints.append(info.fingerprint)
    root = tmp_path / "plain"
    root.mkdir()
    write_fake(root)
    ingest("webdataset", root, isolated_home, dataset="plain")
    assert data.info("plain", isolated_home).prompt_templates is None
    assert len(set(fingerprints)) == 2
