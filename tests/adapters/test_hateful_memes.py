"""hateful-memes: the real Phase 2 jsonl files and the faults of this format."""

from __future__ import annotations

import json
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

from mmbench.adapters import ADAPTERS
from mmbench.data import load
from tests.adapters._helpers import assert_root_errors, ingest, rejections
from tests.fakes._images import image_bytes

NAME = "hateful-memes"


_build = partial(ingest, NAME)
_rejections = partial(rejections, dataset=NAME)


def test_real_phase2_files_without_images(realdata: Path, tmp_path: Path) -> None:
    root = realdata / "hateful_memes"
    report = _build(root, tmp_path, images_required=False)
    sizes = {s: r.kept for s, r in report.splits.items()}
    assert sizes == {"train": 8500, "dev_seen": 500, "dev_unseen": 540, "test_unseen": 2000}
    assert report.rejected == 0
    data = load(NAME, home=tmp_path)
    train = data["train"]
    assert Counter(train["label"]) == {0: 5481, 1: 3019}
    assert Counter(data["dev_seen"]["label"]) == {0: 253, 1: 247}
    assert Counter(data["dev_unseen"]["label"]) == {0: 340, 1: 200}
    assert set(data["test_unseen"]["label"]) == {None}
    first = train[0]
    assert first["id"] == "train-42953" and first["label"] == 0 and first["images"] == []
    assert first["text"] == "its their character not their color that matters"
    assert first["source"] == {"dataset": NAME, "file": "train.jsonl", "locator": "line 1"}
    assert json.loads(first["meta"]) == {"id": 42953, "img": "img/42953.png", "image_missing": True}
    # The integer id 4796 lost its zero; the id keeps the image's padded stem.
    padded = data["test_unseen"][4]
    assert padded["id"] == "test_unseen-04796"
    assert json.loads(padded["meta"])["id"] == 4796
    assert padded["text"] == "xboxone farming 1619 simulator"
    # 400 memes are in both dev splits; the split prefix keeps both.
    seen = {i.split("-", 1)[1] for i in data["dev_seen"]["id"]}
    unseen = {i.split("-", 1)[1] for i in data["dev_unseen"]["id"]}
    assert len(seen & unseen) == 400


def test_real_files_need_images_by_default(realdata: Path, tmp_path: Path) -> None:
    report = _build(realdata / "hateful_memes", tmp_path)
    assert report.kept == 0 and report.rejected == 11540
    first = _rejections(tmp_path)[0]
    assert first == {"split": "train", "file": "train.jsonl", "locator": "line 1",
                     "reason": "missing image file: img/42953.png"}


def _corpus(root: Path, lines: dict[str, list[bytes]], images: list[int]) -> Path:
    (root / "img").mkdir(parents=True)
    for n in images:
        (root / "img" / f"{n:05d}.png").write_bytes(image_bytes(n))
    for split, rows in lines.items():
        (root / f"{split}.jsonl").write_bytes(b"\n".join(rows))  # no final newline
    return root


def _row(meme: int, label: Any = 0, text: str = "t") -> bytes:
    return json.dumps({"id": meme, "img": f"img/{meme:05d}.png", "label": label,
                       "text": text}).encode()


def test_bad_rows_are_rejected_with_file_and_line(tmp_path: Path) -> None:
    train = [
        _row(1),
        b'{"id": 2, "img": "img/00002.png", "label": 0, "text": "cut',
        b'{"id": 3, "img": "img/00003.png", "label": 0, "text": "\xff\xfe"}',
        b'{"id": 4, "label": 0, "text": "no image field"}',
        b'{"id": 5, "img": "img/00005.png", "label": 1}',
        _row(6, label=2),
        _row(7, label=True),
        _row(8),  # image file absent
        _row(1),  # the same meme twice in one split
        b"[1, 2]",
    ]
    root = _corpus(tmp_path / "c", {"train": train}, images=[1, 2, 3, 4, 5, 6, 7])
    report = _build(root, tmp_path / "home")
    assert report.read == 10 and report.kept == 1 and report.rejected == 9
    got = {r["locator"]: r["reason"] for r in _rejections(tmp_path / "home")}
    assert all(r["file"] == "train.jsonl" for r in _rejections(tmp_path / "home"))
    assert got["line 2"].startswith("broken JSON")
    assert got["line 3"].startswith("invalid UTF-8")
    assert got["line 4"] == "missing required field 'img'"
    assert got["line 5"] == "missing required field 'text'"
    assert got["line 6"] == "unknown label 2 (expected 0 or 1)"
    assert got["line 7"] == "unknown label True (expected 0 or 1)"
    assert got["line 8"] == "missing image file: img/00008.png"
    assert got["line 9"].startswith("duplicate id: 'train-00001'")
    assert got["line 10"] == "JSON line is not an object"


def test_missing_images_kept_text_only_when_allowed(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "c", {"dev_seen": [_row(1, 1), _row(2, 0)]}, images=[1])
    report = _build(root, tmp_path / "home", images_required=False)
    assert report.kept == 2
    rows = load(NAME, home=tmp_path / "home")["dev_seen"]
    assert rows[0]["images"][0]["bytes"] == image_bytes(1)
    assert rows[0]["images"][0]["path"] == "img/00001.png"
    assert rows[1]["images"] == [] and json.loads(rows[1]["meta"])["image_missing"] is True


def test_root_errors(tmp_path: Path) -> None:
    adapter = ADAPTERS.get(NAME)()
    assert_root_errors(adapter, tmp_path, tmp_path / "home", empty="no split file")
