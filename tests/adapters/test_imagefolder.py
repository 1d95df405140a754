"""imagefolder adapter: real images laid out both ways, and broken metadata."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from mmbench.adapters.base import AdapterError
from mmbench.data import IngestReport, load
from tests.adapters._helpers import ingest, make_adapter, rejections, run
from tests.audit_opens import reached, recording
from tests.fakes._images import image_bytes
from tests.fakes.imagefolder import write_fake

MNIST_LABELS = {"0": 7, "1": 12, "2": 7, "3": 11, "4": 12, "5": 6, "6": 10, "7": 14, "8": 2, "9": 9}
NEMO_CAPTION = "A wine bottle outfitted with two forks in its cork and a duck head on top."
Rejected = list[dict[str, Any]]


_adapter = partial(make_adapter, "imagefolder")


def _build(root: Path, home: Path, **options: Any) -> tuple[IngestReport, Any, Rejected]:
    report = ingest("imagefolder", root, home, dataset="imf", **options)
    return report, load("imf", home), rejections(home, "imf")


def _write(root: Path, files: dict[str, bytes | str]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)


def _by_locator(rejected: Rejected) -> dict[str, str]:
    return {r["locator"]: r["reason"] for r in rejected}


# -- real images (there is no published imagefolder sample: lay real files out here) ---


def _unpack_mnist(realdata: Path) -> dict[str, tuple[bytes, str]]:
    """key -> (png bytes, class digit) from the real webdataset sample shard."""
    members: dict[str, dict[str, bytes]] = {}
    with tarfile.open(realdata / "webdataset" / "webdataset_testdata" / "sample.tgz") as tf:
        for member in tf.getmembers():
            handle = tf.extractfile(member)
            assert handle is not None
            key, _, ext = member.name.partition(".")
            members.setdefault(key, {})[ext] = handle.read()
    return {k: (m["png"], m["cls"].decode()) for k, m in members.items()}


def test_real_images_in_class_folders(realdata: Path, tmp_path: Path, isolated_home: Path) -> None:
    mnist = _unpack_mnist(realdata)
    assert len(mnist) == 90
    root = tmp_path / "digits"
    _write(root, {f"{cls}/{key}.png": png for key, (png, cls) in mnist.items()})
    assert _adapter().splits(root) == ["train"]
    assert _adapter().info(root).class_names == [str(i) for i in range(10)]
    report, ds, rejected = _build(root, isolated_home)
    assert rejected == [] and report.kept == 90
    assert Counter(str(label) for label in ds["train"]["label"]) == MNIST_LABELS
    for rec in ds["train"]:  # the right bytes and label joined to each file
        key = Path(rec["id"]).stem
        png, cls = mnist[key]
        assert rec["id"] == f"{cls}/{key}.png" and rec["label"] == int(cls)
        assert rec["images"][0]["sha256"] == hashlib.sha256(png).hexdigest()


def test_real_images_with_metadata_csv(realdata: Path, tmp_path: Path, isolated_home: Path) -> None:
    mnist = _unpack_mnist(realdata)
    nemo = realdata / "webdataset" / "nemo_curator" / "00000.tar"
    with tarfile.open(nemo) as tf:
        handle = tf.extractfile("0.jpg")
        assert handle is not None
        jpg = handle.read()
    rows = ["file_name,caption,label,split"]
    rows += [f"img/{k}.png,,{cls},{'test' if int(k) % 3 == 0 else 'train'}"
             for k, (_, cls) in sorted(mnist.items())]
    rows.append(f'photo/0.jpg,"{NEMO_CAPTION}",,validation')
    _write(tmp_path, {f"img/{k}.png": png for k, (png, _) in mnist.items()})
    _write(tmp_path, {"photo/0.jpg": jpg, "metadata.csv": "\n".join(rows) + "\n"})
    assert _adapter().splits(tmp_path) == ["train", "test", "validation"]
    info = _adapter().info(tmp_path)
    assert info.class_names == [str(i) for i in range(10)]
    assert info.tasks == ("classification", "linear-probe", "retrieval")
    report, ds, rejected = _build(tmp_path, isolated_home)
    assert rejected == []
    kept = {s: r.kept for s, r in report.splits.items()}
    assert kept == {"train": 60, "test": 30, "validation": 1}
    (photo,) = ds["validation"]
    assert photo["captions"] == [NEMO_CAPTION] and photo["label"] is None
    assert photo["images"][0]["width"] == 639 and photo["source"]["locator"] == "line 92"
    first = ds["train"][0]  # key 10: line 2 of the csv, class 0
    assert (first["id"], first["label"], first["source"]["locator"]) == ("img/10.png", 0, "line 2")


# -- layouts ---------------------------------------------------------------------------


def test_fake_layout(tmp_path: Path, isolated_home: Path) -> None:
    assert write_fake(tmp_path) == 5
    _, ds, rejected = _build(tmp_path, isolated_home)
    assert rejected == []
    assert ds["train"]["id"] == ["train/cat/a.png", "train/cat/nested/b.jpg", "train/dog/c.png"]
    assert ds["train"]["label"] == [0, 0, 1]
    x, y = ds["test"]
    assert (x["label"], x["captions"], json.loads(x["meta"])) == (
        1, ["a dog"], {"photographer": "A. N. Other"})
    assert (y["id"], y["text"], y["label"]) == ("test/more/y.jpeg", "what animal is this?", 0)


def test_unlabeled_split_and_stray_images(tmp_path: Path, isolated_home: Path) -> None:
    _write(tmp_path, {
        "train/cat/a.png": image_bytes(1), "train/stray.png": image_bytes(2),
        "train/.hidden/z.png": image_bytes(3), "train/cat/.DS_Store": b"junk",
        "test/u1.png": image_bytes(4), "test/u2.png": image_bytes(5),
    })
    os.symlink("/etc/hostname", tmp_path / "train" / "cat" / "escape.png")
    report, ds, rejected = _build(tmp_path, isolated_home)
    assert ds["test"]["label"] == [None, None] and ds["train"]["id"] == ["train/cat/a.png"]
    escape = f"image leads outside the corpus root: {tmp_path}/train/cat/escape.png resolves "
    assert {(r["file"], r["reason"][:len(escape)]) for r in rejected} == {
        ("train/stray.png", "image is not inside a class folder"),
        ("train/cat/escape.png", escape),
    }
    assert (report.read, report.kept, report.rejected) == (5, 3, 2)


# -- the corpus root is a boundary: symlinked folders (each read nothing outside before) --

OUTSIDE = "leads outside the corpus root"


def _metadata(root: Path, names: list[str]) -> None:
    _write(root, {"metadata.jsonl": "".join(json.dumps({"file_name": n}) + "\n" for n in names)})


def test_images_through_a_symlinked_folder_out_of_the_corpus(tmp_path: Path) -> None:
    """`corpus/sub -> outside`: only the last component used to be checked."""
    outside = tmp_path / "outside"
    _write(outside, {"b.png": image_bytes(2), "c.png": image_bytes(3)})
    root = tmp_path / "corpus"
    _write(root, {"a.png": image_bytes(1)})
    _metadata(root, ["a.png", "sub/b.png", "sub/c.png"])
    (root / "sub").symlink_to(outside)
    with recording() as log:
        report, ds, rejected = _build(root, tmp_path / "home")
    assert reached(log, outside) == []
    assert ds["train"]["id"] == ["a.png"] and (report.read, report.rejected) == (3, 2)
    assert [(r["file"], r["locator"]) for r in rejected] == [
        ("metadata.jsonl", "line 2"), ("metadata.jsonl", "line 3")]
    assert rejected[0]["reason"] == (
        f"image {OUTSIDE}: {root}/sub/b.png resolves to {outside.resolve()}/b.png, which is "
        f"not inside {root.resolve()}; pass --allow-symlinks-out (allow_symlinks_out=True in "
        f"Python) to read it")
    allowed = ingest("imagefolder", root, tmp_path / "home", allow_symlinks_out=True)
    assert (allowed.kept, allowed.rejected) == (3, 0)


def test_class_and_split_folders_that_are_symlinks_out_are_one_rejection_each(
        tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _write(outside, {"dog/d1.png": image_bytes(1), "dog/d2.png": image_bytes(2),
                     "test/t.png": image_bytes(3)})
    root = tmp_path / "corpus"
    _write(root, {"train/cat/a.png": image_bytes(4), "other/bird/b.png": image_bytes(5)})
    (root / "train" / "dog").symlink_to(outside / "dog")
    (root / "train" / "bird").symlink_to(root / "other" / "bird")  # stays inside: followed
    (root / "test").symlink_to(outside / "test")
    with recording() as log:
        report, ds, rejected = _build(root, tmp_path / "home")
    assert reached(log, outside) == []
    assert ds["train"]["id"] == ["train/bird/b.png", "train/cat/a.png"]
    assert ds["train"]["label"] == [0, 1]  # bird, cat: dog is no class of this build
    assert [(r["split"], r["file"], r["locator"], r["reason"].split(":")[0])
            for r in rejected] == [
        ("train", "train/dog", "class folder dog", f"class folder {OUTSIDE}"),
        ("test", "test", "split folder", f"split folder {OUTSIDE}")]
    assert (report.read, report.kept, report.rejected) == (4, 2, 2)
    allowed = ingest("imagefolder", root, tmp_path / "home", allow_symlinks_out=True)
    assert (allowed.kept, allowed.rejected) == (5, 0)


def test_etc_symlinked_into_the_corpus_is_never_read(tmp_path: Path) -> None:
    """`corpus/etc -> /etc` as a class folder, and named by metadata rows."""
    folders = tmp_path / "folders"
    _write(folders, {"cat/a.png": image_bytes(1)})
    (folders / "etc").symlink_to("/etc")
    rows = tmp_path / "rows"
    _write(rows, {"a.png": image_bytes(1)})
    _metadata(rows, ["a.png", "etc/passwd", "etc/shadow"])
    (rows / "etc").symlink_to("/etc")
    with recording() as log:
        by_folder, _, folder_rejected = _build(folders, tmp_path / "home-a")
        by_rows, _, row_rejected = _build(rows, tmp_path / "home-b")
    assert reached(log, "/etc/passwd", "/etc/shadow") == []
    assert reached([(event, path) for event, path in log if event != "open"], "/etc") == []
    assert [(r["file"], r["reason"].split(":")[0]) for r in folder_rejected] == [
        ("etc", f"class folder {OUTSIDE}")]
    assert [(r["locator"], r["reason"].split(":")[0]) for r in row_rejected] == [
        ("line 2", f"image {OUTSIDE}"), ("line 3", f"image {OUTSIDE}")]
    assert (by_folder.kept, by_rows.kept) == (1, 1)


def test_split_column_and_column_options(tmp_path: Path, isolated_home: Path) -> None:
    rows = [
        {"file_name": "a.png", "split": "val", "desc": "first", "kind": "x"},
        {"file_name": "b.png", "desc": "second", "kind": "y"},
        {"file_name": "c.png", "split": "val", "kind": "z"},
    ]
    _write(tmp_path, {"a.png": image_bytes(1), "b.png": image_bytes(2), "c.png": image_bytes(3),
                      "metadata.jsonl": "".join(json.dumps(r) + "\n" for r in rows) + "{oops\n"})
    options = {"text_column": "desc", "label_column": "kind", "split": "rest"}
    assert _adapter(**options).splits(tmp_path) == ["val", "rest"]
    report, ds, rejected = _build(tmp_path, isolated_home, **options)
    assert ds["val"]["text"] == ["first", None] and ds["val"]["label"] == [0, 2]
    assert ds["rest"]["id"] == ["b.png"] and ds["rest"]["label"] == [1]
    assert rejected == [{"split": "rest", "file": "metadata.jsonl", "locator": "line 4",
                         "reason": rejected[0]["reason"]}]
    assert rejected[0]["reason"].startswith("broken JSON")
    assert report.read == 4


# -- bad metadata ----------------------------------------------------------------------


def test_bad_jsonl_rows(tmp_path: Path, isolated_home: Path) -> None:
    lines = [
        json.dumps({"file_name": "ok.png", "label": "dog"}),
        '{"file_name": "ok2.png", "label": ',
        b'{"file_name": "caf\xe9.png"}'.decode("latin-1"),
        json.dumps(["not", "an", "object"]),
        json.dumps({"label": "cat"}),
        json.dumps({"file_name": "../outside.png"}),
        json.dumps({"file_name": "/etc/passwd"}),
        json.dumps({"file_name": "ok.png", "label": "zebra"}),
        json.dumps({"file_name": "ok.png", "label": 1.5}),
        json.dumps({"file_name": "ok.png", "text": 3}),
        json.dumps({"file_name": "ok.png", "caption": {"en": "x"}}),
        "",
        json.dumps({"file_name": "ok.png", "label": 1}),
    ]
    raw = "\n".join(lines).encode("latin-1")  # keeps the one invalid UTF-8 byte
    _write(tmp_path, {"ok.png": image_bytes(1), "metadata.jsonl": raw})
    report, ds, rejected = _build(tmp_path, isolated_home, classes="cat,dog")
    got = _by_locator(rejected)
    assert {r["file"] for r in rejected} == {"metadata.jsonl"}
    assert got["line 2"].startswith("broken JSON")
    assert got["line 3"].startswith("invalid UTF-8")
    assert got["line 4"] == "JSON line is not an object"
    assert got["line 5"] == "missing required field 'file_name'"
    assert got["line 6"] == "'file_name' '../outside.png' leaves the corpus folder"
    assert got["line 7"] == "'file_name' '/etc/passwd' leaves the corpus folder"
    assert got["line 8"] == "unknown label 'zebra'"
    assert got["line 9"] == "label 1.5 must be an integer or a string"
    assert got["line 10"] == "field 'text' must be a string, got int"
    assert got["line 11"] == "field 'caption' must be a string or a list of strings"
    # line 13 repeats ok.png: the builder rejects the second record with that id
    assert got["line 13"].startswith("duplicate id: 'ok.png'")
    assert ds["train"]["label"] == [1]
    assert (report.read, report.kept, report.rejected) == (12, 1, 11)


def test_bad_csv_rows(tmp_path: Path, isolated_home: Path) -> None:
    text = (
        "\ufefffile_name,caption,label\n"
        'a.png,"two\nlines",cat\n'
        "b.png,too,many,fields\n"
        "\n"
        'c.png,"bad"quote,cat\n'
        "d.png,caf\xe9,cat\n"
        "e.png,,\n"
        'f.png,"never closed,cat\n'
        "g.png,swallowed,cat\n"
    )
    raw = text.encode("utf-8").replace("caf\xe9".encode(), b"caf\xe9")
    _write(tmp_path, {f"{c}.png": image_bytes(i) for i, c in enumerate("abcdefg")})
    _write(tmp_path, {"metadata.csv": raw})
    report, ds, rejected = _build(tmp_path, isolated_home)
    got = _by_locator(rejected)
    assert ds["train"]["id"] == ["a.png", "e.png"]
    assert ds["train"]["captions"] == [["two\nlines"], []]
    assert ds["train"]["label"] == [0, None]
    assert got["line 4"] == "has 4 fields, the header has 3"
    assert got["line 6"].startswith("broken CSV")
    assert got["line 7"] == "invalid UTF-8"
    assert got["line 9"].startswith("broken CSV") and "through line 10" in got["line 9"]
    assert (report.read, report.kept, report.rejected) == (6, 2, 4)


def test_corpus_level_errors(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="does not exist"):
        _adapter().splits(tmp_path / "absent")
    _write(tmp_path, {"metadata.jsonl": "", "metadata.csv": "file_name\n"})
    with pytest.raises(AdapterError, match="both metadata.jsonl and metadata.csv"):
        _adapter().splits(tmp_path)


def _labelled_corpus(root: Path, labels: list[Any]) -> None:
    root.mkdir()
    for seed, _ in enumerate(labels):
        (root / f"{seed}.png").write_bytes(image_bytes(seed))
    (root / "metadata.jsonl").write_text("".join(
        json.dumps({"file_name": f"{seed}.png", "label": label}) + "\n"
        for seed, label in enumerate(labels)))


def test_sparse_numeric_labels_are_names_not_indices(tmp_path: Path) -> None:
    """A label such as 3000000000 is an id-like name: 0..max as class names would not fit."""
    _labelled_corpus(tmp_path / "corpus", [3_000_000_000, 7, "7"])
    report = ingest("imagefolder", tmp_path / "corpus", tmp_path / "home")
    assert (report.read, report.kept) == (3, 3)
    dataset = load("imagefolder", tmp_path / "home")["train"]
    info = json.loads((tmp_path / "home" / "imagefolder" / "info.json").read_text())
    assert info["class_names"] == ["7", "3000000000"]  # numeric order
    assert dataset["label"] == [1, 0, 0]


def test_a_non_ascii_digit_label_is_a_name(tmp_path: Path) -> None:
    """"²" is a digit to str.isdigit() but not to int(): a name like any other."""
    _labelled_corpus(tmp_path / "corpus", ["\u00b2", 1])
    report = ingest("imagefolder", tmp_path / "corpus", tmp_path / "home")
    assert (report.read, report.kept) == (2, 2)
    info = json.loads((tmp_path / "home" / "imagefolder" / "info.json").read_text())
    assert info["class_names"] == ["1", "\u00b2"]


def test_a_split_value_that_is_not_a_plain_name_is_rejected(tmp_path: Path) -> None:
    """A split names a folder of the dataset: "../x" must not write outside it."""
    root = tmp_path / "corpus"
    root.mkdir()
    splits: list[Any] = ["train", "../escape", ".", "a/b", {"x": 1}, 3, "test"]
    for seed, _ in enumerate(splits):
        (root / f"{seed}.png").write_bytes(image_bytes(seed))
    (root / "metadata.jsonl").write_text("".join(
        json.dumps({"file_name": f"{seed}.png", "caption": "c", "split": split}) + "\n"
        for seed, split in enumerate(splits)))
    report, found = run("imagefolder", root, tmp_path / "home")
    assert {s: r.kept for s, r in report.splits.items()} == {"train": 1, "3": 1, "test": 1}
    assert [(r["split"], r["locator"]) for r in found] == [
        ("train", f"line {n}") for n in (2, 3, 4, 5)]
    assert found[0]["reason"].startswith("split '../escape' is not a plain name")
    assert not (tmp_path / "escape").exists()


def test_build_refuses_a_split_name_that_is_not_plain(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="split '../x' is not a plain name"):
        ingest("imagefolder", tmp_path, tmp_path / "home", split="../x")
