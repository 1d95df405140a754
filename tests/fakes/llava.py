"""Fake LLaVA conversation json: single-image, multi-image and multi-turn records."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes._images import image_bytes


def records() -> list[dict[str, object]]:
    def conv(question: str, answer: str) -> list[dict[str, str]]:
        return [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]

    return [
        {"id": "000001", "image": "coco/1.jpg",
         "conversations": conv("<image>\nWhat is it?", "A cat.")},
        {"id": 2, "image": ["coco/1.jpg", "coco/2.jpg"],
         "conversations": conv("<image>\n<image>\nSame?", "No.")},
        {"id": "3", "image": "coco/2.jpg",
         "conversations": conv("Describe it.\n<image>", "Grey.") + conv("More?", "Square.")},
    ]


def write_fake(root: Path) -> int:
    (root / "coco").mkdir(parents=True, exist_ok=True)
    (root / "coco" / "1.jpg").write_bytes(image_bytes(1))
    (root / "coco" / "2.jpg").write_bytes(image_bytes(2))
    (root / "llava_fake.json").write_text(json.dumps(records(), indent=1), encoding="utf-8")
    return len(records())
