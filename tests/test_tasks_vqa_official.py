"""The vqa task reports the official `vqa` and `vqa_lenient` side by side, and a rescore of
stored predictions computes both, also for a record stored before `vqa_lenient` existed."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from mmbench.adapters import ADAPTERS
from mmbench.data import build, info, load
from mmbench.models.base import FitReport
from mmbench.report.rescore import score_record
from mmbench.runner.fitting import fit_and_evaluate
from mmbench.tasks import TASKS
from tests.fakes._images import jpeg_bytes
from tests.fakes.vqav2 import questions_doc

# subtype -> question id -> ten answers; ids are image_id * 1000 + k.
ANSWERS = {
    # Targets (full normal form, most common): "yes" and "2"; vocabulary ["2", "yes"].
    "train2014": {11000: ["yes"] * 10, 11001: ["two"] * 6 + ["2"] * 4},
    "val2014": {21000: ["two"] * 10, 21001: ["2"] * 3 + ["two"] * 7, 22000: ["red"] * 10},
}


class Constant:
    """A classifier that always answers class `index`."""

    def __init__(self, index: int) -> None:
        self.index = index

    def fit(self, train: Any, val: Any, *, num_classes: int, seed: int) -> FitReport:
        self.num_classes = num_classes
        return FitReport()

    def predict_proba(self, batch: Any) -> np.ndarray:
        return np.tile(np.eye(self.num_classes)[self.index], (len(batch), 1))


def write_vqa(root: Path) -> None:
    for subtype, by_qid in ANSWERS.items():
        questions = []
        for qid in by_qid:
            image_id = qid // 1000
            img = root / subtype / f"COCO_{subtype}_{image_id:012d}.jpg"
            img.parent.mkdir(parents=True, exist_ok=True)
            img.write_bytes(jpeg_bytes(image_id))
            questions.append({"image_id": image_id, "question": f"Question {qid}?", "question_id": qid})
        (root / f"v2_OpenEnded_mscoco_{subtype}_questions.json").write_text(
            json.dumps(questions_doc(subtype, questions)))
        anns = [{"question_id": q["question_id"], "image_id": q["image_id"],
                 "answers": [{"answer": a, "answer_id": i + 1} for i, a in enumerate(by_qid[q["question_id"]])]}
                for q in questions]
        (root / f"v2_mscoco_{subtype}_annotations.json").write_text(json.dumps({"annotations": anns}))


@pytest.fixture
def evaluated(tmp_path: Path, isolated_home: Path) -> Any:
    write_vqa(tmp_path / "vqa")
    build(ADAPTERS.get("vqav2")(), tmp_path / "vqa", home=isolated_home)
    dataset, meta = load("vqav2", isolated_home), info("vqav2", isolated_home)
    return fit_and_evaluate(TASKS.get("vqa")(), Constant(0), dataset, meta, seed=0)  # always "2"


def test_the_task_reports_official_and_lenient(evaluated: Any) -> None:
    out = evaluated
    assert out.predictions.column("prediction").to_pylist() == ["2"] * 3
    # 21000, two x10: all the same, so left as given; "2" never matches "two" -> 0 (lenient: 1).
    # 21001, 2 x3 + two x7: the answers only lose punctuation; 3 match -> 0.9 (lenient: 10 -> 1).
    # 22000, red x10: 0 in both.
    assert out.predictions.column("vqa_accuracy").to_pylist() == pytest.approx([0.0, 0.9, 0.0])
    assert out.predictions.column("vqa_lenient_accuracy").to_pylist() == pytest.approx([1.0, 1.0, 0.0])
    assert out.metrics["vqa"].value == pytest.approx(0.9 / 3)
    assert out.metrics["vqa_lenient"].value == pytest.approx(2 / 3)
    assert out.metrics["exact_match"].value == pytest.approx(2 / 3)  # the target is "2" on both
    assert set(out.metrics) == {"vqa", "vqa_lenient", "exact_match"}


def test_a_rescore_reproduces_both_and_adds_lenient_to_an_old_record(evaluated: Any) -> None:
    metrics = {name: {**est.to_dict(), "higher_is_better": True} for name, est in evaluated.metrics.items()}
    again = score_record(SimpleNamespace(task="vqa", metrics=metrics), evaluated.predictions)  # type: ignore[arg-type]
    assert again == metrics

    # A record stored before: its `vqa` was the lenient value, and neither the metric
    # `vqa_lenient` nor the table's column existed.
    old_table = evaluated.predictions.drop_columns(["vqa_lenient_accuracy"])
    old = {"vqa": metrics["vqa_lenient"], "exact_match": metrics["exact_match"]}
    rescored = score_record(SimpleNamespace(task="vqa", metrics=old), old_table)  # type: ignore[arg-type]
    assert rescored == metrics  # the official vqa replaces it; the old value lives on as vqa_lenient
