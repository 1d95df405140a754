"""Fake GQA corpus: balanced question files keyed by question id + images/<imageId>.jpg."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fakes._images import jpeg_bytes

# split -> {question id: image id}; the test split is published without answers.
LAYOUT = {"train": {"0101": "2001", "0102": "n2002"}, "val": {"0201": "2003"},
          "testdev": {"0301": "2004"}, "test": {"0401": "2005"}}


def question(qid: str, image_id: str, answered: bool = True) -> dict[str, Any]:
    q: dict[str, Any] = {"imageId": image_id, "question": f"What is in {image_id} ({qid})?",
                         "isBalanced": True, "types": {"structural": "query"},
                         "semantic": [{"operation": "select", "dependencies": [],
                                       "argument": "thing (1)"}]}
    if answered:
        q.update(answer=f"ans{qid}", fullAnswer=f"The answer is ans{qid}.")
    return q


def write_images(root: Path, image_ids: list[str]) -> None:
    (root / "images").mkdir(parents=True, exist_ok=True)
    for n, image_id in enumerate(image_ids):
        (root / "images" / f"{image_id}.jpg").write_bytes(jpeg_bytes(n + 1))


def write_fake(root: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    count = 0
    for split, pairs in LAYOUT.items():
        doc = {qid: question(qid, img, answered=split != "test") for qid, img in pairs.items()}
        (root / f"{split}_balanced_questions.json").write_text(json.dumps(doc, indent=2))
        write_images(root, list(pairs.values()))
        count += len(doc)
    return count
