"""Fake imagefolder corpus: a class-folder train split and a metadata.jsonl test split."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes._images import image_bytes, jpeg_bytes


def write_fake(root: Path) -> int:
    files = {
        "train/cat/a.png": image_bytes(1),
        "train/cat/nested/b.jpg": jpeg_bytes(2),
        "train/dog/c.png": image_bytes(3),
        "test/x.png": image_bytes(4),
        "test/more/y.jpeg": jpeg_bytes(5),
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "train" / "cat" / "notes.txt").write_text("not an image, not a row")
    rows = [
        {"file_name": "x.png", "label": "dog", "caption": "a dog", "photographer": "A. N. Other"},
        {"file_name": "more/y.jpeg", "label": "cat", "text": "what animal is this?"},
    ]
    (root / "test" / "metadata.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return 5
