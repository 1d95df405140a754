"""Inputs a fuzzing campaign over every adapter found to crash, hang or exhaust memory.

Each must now end as rejections (counted: read = kept + rejected) or, when the corpus as
a whole is unreadable, as one AdapterError naming the file.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mmbench.adapters import ADAPTERS
from mmbench.adapters.base import AdapterError
from mmbench.data import build
from tests.fakes._images import image_bytes

DEEP = "[" * 5000 + "]" * 5000  # deeper than Python's recursion limit
BIG = "1" * 5000  # more digits than int() accepts (4,300)


def _png() -> bytes:
    return image_bytes(1, size=(4, 4))


def _karpathy(split: str = "train", filename: str = "a.png", extra: str = ""
              ) -> Callable[[Path], None]:
    def write(root: Path) -> None:
        (root / "a.png").write_bytes(_png())
        entry = json.dumps({"filename": filename, "split": split, "sentences": [{"raw": "x"}]})
        (root / "dataset_coco.json").write_text('{"images": [' + entry[:-1] + extra + "}]}")
    return write


def _hateful(line: str) -> Callable[[Path], None]:
    def write(root: Path) -> None:
        (root / "img").mkdir()
        (root / "img" / "a.png").write_bytes(_png())
        (root / "train.jsonl").write_text(
            '{"img": "img/a.png", "text": "ok", "label": 0}\n' + line + "\n")
    return write


def _imagefolder(*rows: dict[str, Any]) -> Callable[[Path], None]:
    def write(root: Path) -> None:
        (root / "a.png").write_bytes(_png())
        (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return write


def _webdataset(members: list[tuple[str, bytes]], classnames: bytes | None = b"cat\ndog\n",
                folder: str = "train") -> Callable[[Path], None]:
    def write(root: Path) -> None:
        if classnames is not None:
            (root / "classnames.txt").write_bytes(classnames)
        (root / folder).mkdir()
        with tarfile.open(root / folder / "0.tar", "w") as archive:
            for name, data in [("s0.png", _png()), *members]:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return write


def _then(*steps: Callable[[Path], Any]) -> Callable[[Path], None]:
    def write(root: Path) -> None:
        for step in steps:
            step(root)
    return write


def _swap_for(target: str, make: Callable[[Path], Any]) -> Callable[[Path], None]:
    """Replace the corpus file `target` by what `make` creates at its path."""
    def write(root: Path) -> None:
        (root / target).unlink()
        make(root / target)
    return write


# name: (adapter, options, corpus writer, expected: "reject: <reason start>" or "error: <text>")
CASES: dict[str, tuple[str, dict[str, Any], Callable[[Path], None], str]] = {
    "whole-file JSON nested too deep": (
        "karpathy", {}, lambda r: (r / "dataset_coco.json").write_text(DEEP),
        "error: is not valid JSON: nested too deeply"),
    "whole-file JSON with a 5000-digit number": (
        "karpathy", {}, _karpathy(extra=', "cocoid": ' + BIG),
        "error: is not valid JSON: Exceeds the limit (4300 digits)"),
    "JSON line nested too deep": ("hateful-memes", {}, _hateful(DEEP), "reject: broken JSON"),
    "JSON line with a 5000-digit number": (
        "hateful-memes", {}, _hateful('{"img": "img/a.png", "text": "t", "id": ' + BIG + "}"),
        "reject: broken JSON"),
    "token file index that is a superscript digit": (
        "flickr-token", {}, lambda r: ((r / "Images").mkdir(), (r / "Flickr8k.token.txt")
                                       .write_text("a.jpg#\u00b2\tA dog .\n", encoding="utf-8")),
        "reject: caption id 'a.jpg#\u00b2' is not <image>#<n>"),
    "token file index of 5000 digits": (
        "flickr-token", {}, lambda r: ((r / "Images").mkdir(), (r / "Flickr8k.token.txt")
                                       .write_text(f"a.jpg#{BIG}\tA dog .\n")),
        "reject: caption id"),
    "tar .cls that is a superscript digit": (
        "webdataset", {}, _webdataset([("s0.cls", "\u00b2".encode())]),
        "reject: unknown label '\u00b2' in .cls member"),
    "tar .cls of 5000 digits": (
        "webdataset", {}, _webdataset([("s0.cls", BIG.encode())]), "reject: unknown label"),
    "tar .json nested too deep": (
        "webdataset", {}, _webdataset([("s0.json", DEEP.encode())]),
        "reject: broken JSON in .json member: nested too deeply"),
    "tar .json nested too deep, no classnames.txt": (
        "webdataset", {}, _webdataset([("s0.json", DEEP.encode())], None),
        "reject: broken JSON in .json member"),
    "classnames.txt that is not UTF-8": (
        "webdataset", {}, _webdataset([], b"cat\n\xff\n"),
        "error: classnames.txt is not valid UTF-8"),
    "tar .cls of 2**40 without class names": (
        "webdataset", {}, _webdataset([("s0.cls", b"1099511627776")], None),
        "reject: label 1099511627776 is not below 100000"),
    "llava role that is a list": (
        "llava", {}, lambda r: ((r / "a.png").write_bytes(_png()), (r / "data.json").write_text(
            json.dumps([{"id": "1", "image": "a.png", "conversations": [
                {"from": ["human"], "value": "<image>q"}, {"from": "gpt", "value": "a"}]}]))),
        "reject: turn 0 of 'conversations' has a role ['human'] that is not a string"),
    "vqav2 question_id that is a dict": (
        "vqav2", {}, lambda r: (r / "v2_OpenEnded_mscoco_test2015_questions.json").write_text(
            json.dumps({"data_subtype": "test2015",
                        "questions": [{"question_id": {}, "image_id": 1, "question": "q?"}]})),
        "reject: missing or non-integer question_id"),
    "TSV answer that is an unhashable literal": (
        "vlmevalkit-tsv", {}, lambda r: (r / "x.tsv").write_text(
            "index\tquestion\tanswer\timage\n0\tq\t[{[]: 1}]\t"
            + base64.b64encode(_png()).decode() + "\n"),
        "kept"),
    "TSV that starts with a byte order mark": (
        "vlmevalkit-tsv", {}, lambda r: (r / "x.tsv").write_bytes(
            b"\xef\xbb\xbfindex\tquestion\tanswer\timage\n0\tq\ta\t"
            + base64.b64encode(_png()) + b"\n"),
        "kept"),
    "numeric label of 5000 digits": (
        "imagefolder", {}, _imagefolder({"file_name": "a.png", "label": BIG}), "kept"),
    "file name longer than the system allows": (
        "imagefolder", {}, _imagefolder({"file_name": "y" * 300 + ".png", "caption": "c"}),
        "reject: unreadable image file: 'yyy"),
    "image that is a symlink loop": (
        "imagefolder", {}, _then(_imagefolder({"file_name": "loop.png", "caption": "c"}),
                                 lambda r: (r / "loop.png").symlink_to("loop.png")),
        "reject: image path 'loop.png' cannot be resolved"),
    "karpathy file name longer than the system allows": (
        "karpathy", {}, _karpathy(filename="y" * 300 + ".png"), "reject: unreadable image file"),
    "nlvr2 directory longer than the system allows": (
        "nlvr2", {}, lambda r: ((r / "images" / "dev").mkdir(parents=True), (r / "dev.json")
                                .write_text(json.dumps({"identifier": "dev-1-0-0", "sentence": "s",
                                                        "label": "True", "directory": "d" * 300})
                                            + "\n")),
        "reject: unreadable image file"),
    "optional image whose name is too long": (
        "hateful-memes", {"images_required": False},
        _hateful(json.dumps({"img": "img/" + "y" * 300 + ".png", "text": "t"})), "kept"),
    "split named info.json": ("karpathy", {}, _karpathy(split="info.json"),
                              "reject: split 'info.json' is not a plain name"),
    "split with a space": ("karpathy", {}, _karpathy(split="val 2"),
                           "reject: split 'val 2' is not a plain name"),
    "split column naming rejections.jsonl": (
        "imagefolder", {}, _imagefolder({"file_name": "a.png", "caption": "c",
                                         "split": "rejections.jsonl"}),
        "reject: split 'rejections.jsonl' is not a plain name"),
    "shard folder named info.json": (
        "webdataset", {}, _webdataset([], folder="info.json"),
        "error: split 'info.json' is not a plain name"),
    "image that is a FIFO": (
        "hateful-memes", {}, _then(_hateful(""), _swap_for("img/a.png", os.mkfifo)),
        "reject: unreadable image file"),
    "image that is a symlink to /dev/zero": (  # outside the corpus root: never opened
        "karpathy", {}, _then(_karpathy(), _swap_for("a.png",
                                                     lambda p: p.symlink_to("/dev/zero"))),
        "reject: image leads outside the corpus root"),
}


@pytest.fixture()
def deadline() -> Iterator[None]:
    """Fail instead of hanging (a FIFO once blocked the build forever)."""
    def expire(*_: object) -> None:
        raise TimeoutError("build did not finish in 60 s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("case", sorted(CASES))
def test_fuzzed_input_ends_in_a_report(case: str, tmp_path: Path, deadline: None) -> None:
    adapter, options, write, expected = CASES[case]
    root = tmp_path / "corpus"
    root.mkdir()
    write(root)
    home = tmp_path / "home"
    if expected.startswith("error: "):
        with pytest.raises(AdapterError, match=expected.removeprefix("error: ")
                           .replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
            build(ADAPTERS.get(adapter)(**options), root, home=home)
        return
    report = build(ADAPTERS.get(adapter)(**options), root, home=home)
    assert report.read == report.kept + report.rejected
    lines = (home / adapter / "rejections.jsonl").read_text(encoding="utf-8").splitlines()
    reasons = [json.loads(line)["reason"] for line in lines]
    assert len(reasons) == report.rejected
    if expected == "kept":
        assert report.kept >= 1
    else:
        want = expected.removeprefix("reject: ")
        assert any(reason.startswith(want) for reason in reasons), reasons
