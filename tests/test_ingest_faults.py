"""The builder's generic image and id faults, injected through an imagefolder metadata.jsonl.

Each fault must become one line of rejections.jsonl naming the metadata file, the
line of the row and the reason, and the counts must add up: read = kept + rejected.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from mmbench.adapters import ADAPTERS
from mmbench.data import build
from mmbench.images import DEFAULT_MAX_PIXELS
from tests.fakes._images import image_bytes, jpeg_bytes


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny real PNG whose header claims width x height (never decoded, so never allocated)."""
    png = bytearray(image_bytes(0, size=(1, 1)))
    ihdr = 8 + 8  # signature, then length + type of the first chunk
    struct.pack_into(">II", png, ihdr, width, height)
    crc = zlib.crc32(bytes(png[ihdr - 4: ihdr + 13]))
    struct.pack_into(">I", png, ihdr + 13, crc)
    return bytes(png)


def _corpus(root: Path, bad_name: str, bad_bytes: bytes | None, duplicate: bool = False) -> None:
    """good.png on line 1, the faulty row on line 2, another good row on line 3."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "good.png").write_bytes(image_bytes(1))
    (root / "other.jpg").write_bytes(jpeg_bytes(2))
    if bad_bytes is not None:
        (root / bad_name).write_bytes(bad_bytes)
    rows = [{"file_name": "good.png", "caption": "fine"},
            {"file_name": "good.png" if duplicate else bad_name, "caption": "faulty"},
            {"file_name": "other.jpg", "caption": "also fine"}]
    (root / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _ingest(root: Path, home: Path, **kwargs: Any) -> dict[str, Any]:
    report = build(ADAPTERS.get("imagefolder")(), root, home=home, name="faults", **kwargs)
    assert (report.read, report.kept, report.rejected) == (3, 2, 1)
    assert report.read == report.kept + report.rejected
    lines = (home / "faults" / "rejections.jsonl").read_text().splitlines()
    assert len(lines) == 1
    rejection: dict[str, Any] = json.loads(lines[0])
    assert (rejection["split"], rejection["file"], rejection["locator"]) == (
        "train", "metadata.jsonl", "line 2")
    info = json.loads((home / "faults" / "info.json").read_text())
    assert info["ingest"] == {"read": 3, "kept": 2, "rejected": 1}
    return rejection


CASES = {
    "missing-file": ("gone.png", None, "missing image file: gone.png"),
    "truncated-png": ("cut.png", image_bytes(3, size=(64, 64))[:-20],
                      "truncated PNG data (no end marker) (cut.png)"),
    "truncated-jpeg": ("cut.jpg", jpeg_bytes(3, size=(64, 64))[:-20],
                       "truncated JPEG data (no end marker) (cut.jpg)"),
    "not-an-image": ("text.png", b"plain text pretending to be a picture\n",
                     "not a readable image: UnidentifiedImageError"),
    "empty-file": ("empty.png", b"", "empty image file (empty.png)"),
    "bomb-header": ("bomb.png", _bomb_png(20000, 20000), "decompression bomb:"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_image_fault_is_one_rejection(case: str, tmp_path: Path, isolated_home: Path) -> None:
    name, data, reason = CASES[case]
    _corpus(tmp_path / "corpus", name, data)
    rejection = _ingest(tmp_path / "corpus", isolated_home)
    assert rejection["reason"].startswith(reason), rejection["reason"]


def test_pixel_limit_is_an_option(tmp_path: Path, isolated_home: Path) -> None:
    # A real, fully valid 64x64 image: fine by default, over a 1000-pixel limit.
    _corpus(tmp_path / "corpus", "big.png", image_bytes(4, size=(64, 64)))
    rejection = _ingest(tmp_path / "corpus", isolated_home, max_pixels=1000)
    assert rejection["reason"] == (
        "image of 64x64 pixels exceeds the limit of 1000 (big.png)")


@pytest.mark.parametrize(("size", "limit"), [(9000, None), (5000, 4096)])
def test_crafted_header_over_the_pixel_limit(size: int, limit: int | None, tmp_path: Path,
                                             isolated_home: Path) -> None:
    # Under PIL's own bomb threshold, so the builder's limit is what refuses it.
    _corpus(tmp_path / "corpus", "huge.png", _bomb_png(size, size))
    kwargs = {} if limit is None else {"max_pixels": limit}
    rejection = _ingest(tmp_path / "corpus", isolated_home, **kwargs)
    assert rejection["reason"] == (
        f"image of {size}x{size} pixels exceeds the limit of {limit or DEFAULT_MAX_PIXELS}"
        " (huge.png)")


def test_duplicate_id(tmp_path: Path, isolated_home: Path) -> None:
    _corpus(tmp_path / "corpus", "unused.png", None, duplicate=True)
    rejection = _ingest(tmp_path / "corpus", isolated_home)
    assert rejection["reason"] == "duplicate id: 'good.png' (first seen in split 'train')"


def test_a_lone_surrogate_in_a_text_is_one_rejection(tmp_path: Path, isolated_home: Path) -> None:
    """JSON may escape half a UTF-16 pair ("\\ud800"); such a text cannot be stored as UTF-8."""
    root = tmp_path / "corpus"
    _corpus(root, "bad.png", image_bytes(3))
    lines = (root / "metadata.jsonl").read_text().splitlines()
    lines[1] = '{"file_name": "bad.png", "caption": "half a pair \\ud800 here"}'
    (root / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    rejection = _ingest(root, isolated_home)
    assert rejection["reason"] == ("record 'bad.png': field 'captions[0]' is not valid Unicode "
                                   "(it holds a lone surrogate)")


def test_an_image_name_that_is_not_utf8_is_one_rejection(tmp_path: Path, isolated_home: Path
                                                         ) -> None:
    root = tmp_path / "corpus"
    name = b"caf\xe9.png".decode("utf-8", "surrogateescape")  # a Latin-1 file name on disk
    _corpus(root, "unused.png", None)
    (root / name).write_bytes(image_bytes(4))
    lines = (root / "metadata.jsonl").read_text().splitlines()
    lines[1] = json.dumps({"file_name": "caf\udce9.png", "caption": "faulty"})
    (root / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    rejection = _ingest(root, isolated_home)
    assert rejection["reason"] == "image name 'caf\\udce9.png' is not valid UTF-8"
