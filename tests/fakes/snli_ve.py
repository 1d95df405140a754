"""Fake SNLI-VE corpus: snli_ve_{train,dev,test}.jsonl + flickr30k_images/<id>.jpg."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fakes._images import jpeg_bytes

LABELS = ("entailment", "neutral", "contradiction")
# split -> Flickr30k image ids; every image gets one hypothesis per label.
LAYOUT = {"train": ["1001", "1002"], "dev": ["2001"], "test": ["3001"]}


def pair(image_id: str, caption: int, label: str) -> dict[str, Any]:
    premise = f"A person stands near thing {image_id}."
    return {"Flickr30K_ID": image_id, "captionID": f"{image_id}.jpg#{caption}",
            "pairID": f"{image_id}.jpg#{caption}r1{label[0]}", "gold_label": label,
            "annotator_labels": [label], "sentence1": premise,
            "sentence2": f"Someone is {label} of {image_id}.",
            "sentence1_parse": "(ROOT)", "sentence2_parse": "(ROOT)"}


def write_fake(root: Path) -> int:
    (root / "flickr30k_images").mkdir(parents=True, exist_ok=True)
    count = 0
    for split, image_ids in LAYOUT.items():
        rows = [pair(image_id, 0, label) for image_id in image_ids for label in LABELS]
        lines = "".join(json.dumps(r) + "\n" for r in rows)
        (root / f"snli_ve_{split}.jsonl").write_text(lines)
        for image_id in image_ids:
            (root / "flickr30k_images" / f"{image_id}.jpg").write_bytes(jpeg_bytes(int(image_id)))
        count += len(rows)
    return count
