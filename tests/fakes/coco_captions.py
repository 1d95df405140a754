"""Fake MS-COCO caption corpus: annotations/captions_{train,val}2017.json + image folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fakes._images import jpeg_bytes

# image id -> captions; 30 has none (kept, marked in meta)
TRAIN = {10: ["a red square.", "a square, red "], 11: ["one dot"], 12: ["x", "y", "z"]}
VAL = {20: ["a blue thing"], 21: ["two", "captions"], 30: []}


def coco_file(images: dict[int, list[str]], split: str, year: str = "2017") -> dict[str, Any]:
    """A captions_<split><year>.json payload; annotation ids count up from image_id * 100."""
    imgs = [{"id": i, "file_name": f"{i:012d}.jpg", "license": 1, "height": 6, "width": 8,
             "coco_url": f"http://images.cocodataset.org/{split}{year}/{i:012d}.jpg"}
            for i in images]
    anns = [{"image_id": i, "id": i * 100 + k, "caption": c}
            for i, caps in images.items() for k, c in enumerate(caps)]
    return {"info": {"year": int(year)}, "licenses": [{"id": 1, "name": "CC"}],
            "images": imgs, "annotations": anns}


def write_images(root: Path, folder: str, images: dict[int, list[str]]) -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    for i in images:
        (root / folder / f"{i:012d}.jpg").write_bytes(jpeg_bytes(i))


def write_fake(root: Path) -> int:
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for split, images in (("train", TRAIN), ("val", VAL)):
        payload = coco_file(images, split)
        (root / "annotations" / f"captions_{split}2017.json").write_text(json.dumps(payload))
        write_images(root, f"{split}2017", images)
    return len(TRAIN) + len(VAL)
