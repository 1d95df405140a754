"""Fake Karpathy-split COCO file: dataset_coco.json + train2014/ and val2014/ images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fakes._images import jpeg_bytes

# (filepath, cocoid, split, captions)
IMAGES = [
    ("val2014", 391895, "test", ["A man with a red helmet on a small moped on a dirt road. ",
                                 "Man riding a motor bike on a dirt road."]),
    ("val2014", 522418, "restval", ["A woman cutting a large white sheet cake."]),
    ("train2014", 184613, "train", ["A child holding a flowered umbrella.", "kid", "umbrella"]),
    ("val2014", 318219, "val", ["A young boy standing in front of a computer keyboard."]),
    ("train2014", 554625, "train", ["a boy wearing headphones using one computer"]),
]


def image_entry(imgid: int, filepath: str, cocoid: int, split: str, captions: list[str],
                first_sentid: int) -> dict[str, Any]:
    sentences = [{"tokens": c.lower().strip(" .").split(), "raw": c, "imgid": imgid,
                  "sentid": first_sentid + k} for k, c in enumerate(captions)]
    return {"filepath": filepath, "sentids": [s["sentid"] for s in sentences],
            "filename": f"COCO_{filepath}_{cocoid:012d}.jpg", "imgid": imgid, "split": split,
            "sentences": sentences, "cocoid": cocoid}


def coco_payload() -> dict[str, Any]:
    images, sentid = [], 0
    for imgid, (filepath, cocoid, split, captions) in enumerate(IMAGES):
        images.append(image_entry(imgid, filepath, cocoid, split, captions, sentid))
        sentid += len(captions)
    return {"images": images, "dataset": "coco"}


def write_images(root: Path, payload: dict[str, Any], folder: str = "") -> None:
    for seed, image in enumerate(payload["images"]):
        path = root / folder / image.get("filepath", "") / image["filename"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg_bytes(seed))


def write_fake(root: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    payload = coco_payload()
    (root / "dataset_coco.json").write_text(json.dumps(payload))
    write_images(root, payload)
    return len(IMAGES)
