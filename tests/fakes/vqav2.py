"""Fake VQA v2 corpus in the official layout: questions + annotations per subtype."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fakes._images import jpeg_bytes

# subtype -> image ids -> questions per image; test subtypes have no annotations.
LAYOUT = {"train2014": {11: 2, 12: 1}, "val2014": {21: 2}, "test2015": {31: 1},
          "test-dev2015": {31: 1}}


def answers(qid: int) -> list[dict[str, Any]]:
    """Ten answers; the last differs so order and multiplicity matter."""
    words = [f"ans{qid}"] * 9 + ["other"]
    return [{"answer": w, "answer_confidence": "yes" if i % 3 else "maybe", "answer_id": i + 1}
            for i, w in enumerate(words)]


def questions_doc(subtype: str, questions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"info": {"version": "2.0"}, "task_type": "Open-Ended", "data_type": "mscoco",
            "data_subtype": subtype, "questions": questions}


def annotation(q: dict[str, Any]) -> dict[str, Any]:
    qid = q["question_id"]
    return {"question_id": qid, "image_id": q["image_id"], "question_type": "what is",
            "answer_type": "other", "multiple_choice_answer": f"ans{qid}", "answers": answers(qid)}


def write_subtype(root: Path, subtype: str, per_image: dict[int, int]) -> int:
    folder = subtype.replace("test-dev", "test")
    questions = []
    for image_id, count in per_image.items():
        img = root / folder / f"COCO_{folder}_{image_id:012d}.jpg"
        img.parent.mkdir(parents=True, exist_ok=True)
        img.write_bytes(jpeg_bytes(image_id))
        questions += [{"image_id": image_id, "question": f"What is {k} in {image_id}?",
                       "question_id": image_id * 1000 + k} for k in range(count)]
    doc = questions_doc(subtype, questions)
    (root / f"v2_OpenEnded_mscoco_{subtype}_questions.json").write_text(json.dumps(doc))
    if not subtype.startswith("test"):
        anns = {"data_subtype": subtype, "annotations": [annotation(q) for q in questions]}
        (root / f"v2_mscoco_{subtype}_annotations.json").write_text(json.dumps(anns))
    return len(questions)


def write_fake(root: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    return sum(write_subtype(root, subtype, per_image) for subtype, per_image in LAYOUT.items())
