"""Multi-label F1 and mAP against scikit-learn, and the classification task's multi-label mode."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score

from mmbench.adapters.base import Adapter, CorpusInfo, ImageRef, Item
from mmbench.data import DatasetInfo, build, info, load
from mmbench.loader import BatchLoader
from mmbench.metrics import METRICS
from mmbench.metrics.multilabel import resample_weights
from mmbench.models.base import FitReport
from mmbench.runner.fitting import fit_and_evaluate
from mmbench.schema import make_record
from mmbench.stats import bootstrap_indices
from mmbench.tasks import TASKS
from tests.fakes._images import image_bytes


def _data(n: int = 120, classes: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, classes)) < 0.35).astype(np.int64)
    targets[:classes] = np.eye(classes, dtype=np.int64)  # every class has a positive row
    scores = np.clip(0.6 * targets + rng.normal(0.2, 0.25, (n, classes)), 0, 1)
    scores[::7, 0] = scores[::7, 1]  # ties, which AP groups into one threshold
    return targets, np.round(scores, 2)


def test_f1_matches_scikit_learn() -> None:
    targets, scores = _data()
    preds = (scores >= 0.5).astype(np.int64)
    assert METRICS.get("multilabel_micro_f1").fn(targets, scores) == pytest.approx(
        f1_score(targets, preds, average="micro", zero_division=0), abs=1e-12)
    assert METRICS.get("multilabel_macro_f1").fn(targets, scores) == pytest.approx(
        f1_score(targets, preds, average="macro", zero_division=0), abs=1e-12)


def test_map_matches_scikit_learn_macro_average_precision() -> None:
    targets, scores = _data()
    ours = METRICS.get("mean_average_precision").fn(targets, scores)
    assert ours == pytest.approx(average_precision_score(targets, scores, average="macro"), abs=1e-12)
    # A class with no positive row has no AP: the mean is over the classes present.
    targets[:, 2] = 0
    present = [0, 1, 3, 4]
    expected = average_precision_score(targets[:, present], scores[:, present], average="macro")
    assert METRICS.get("mean_average_precision").fn(targets, scores) == pytest.approx(expected, abs=1e-12)


def test_resampled_forms_equal_scikit_learn_on_each_resample() -> None:
    targets, scores = _data(60, 4, seed=3)
    indices = bootstrap_indices(60, seed=1, n_boot=70)  # more than one chunk of 64
    weights = resample_weights(indices, 60)
    assert (weights.sum(axis=1) == 60).all()
    preds = (scores >= 0.5).astype(np.int64)
    fast = {n: METRICS.get(n).resampled(targets, scores, indices)
            for n in ("multilabel_micro_f1", "multilabel_macro_f1", "mean_average_precision")}
    for b, idx in enumerate(indices):
        t, s, p = targets[idx], scores[idx], preds[idx]
        assert fast["multilabel_micro_f1"][b] == pytest.approx(f1_score(t, p, average="micro", zero_division=0))
        assert fast["multilabel_macro_f1"][b] == pytest.approx(f1_score(t, p, average="macro", zero_division=0))
        present = t.sum(axis=0) > 0
        assert fast["mean_average_precision"][b] == pytest.approx(
            average_precision_score(t[:, present], s[:, present], average="macro"))


def test_registered_higher_is_better() -> None:
    for name in ("multilabel_micro_f1", "multilabel_macro_f1", "mean_average_precision"):
        assert METRICS.get(name).higher_is_better


# --- the task -----------------------------------------------------------------------------

LABELS = {"train": [[0], [0, 1], [1, 2], [2], [0, 2], [1]], "val": [[0], [2]],
          "test": [[0, 1], [2], [1], []]}


@dataclass
class MultiLabelAdapter(Adapter):
    """Records with a `labels` list and no `label`; the last test record is unlabelled."""

    name = "tiny-multilabel"
    needs_root = False

    def splits(self, root: Path) -> list[str]:
        return list(LABELS)

    def info(self, root: Path) -> CorpusInfo:
        return CorpusInfo(class_names=["cat", "dog", "car"], tasks=("classification",))

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        for i, labels in enumerate(LABELS[split]):
            words = " ".join(["cat", "dog", "car"][c] for c in labels) or "nothing"
            yield make_record(id=f"{split}-{i}", text=f"a photo with {words}", labels=labels,
                              images=[ImageRef(name=f"{split}-{i}.png", data=image_bytes(i))],
                              source={"dataset": "tiny-multilabel", "file": "", "locator": str(i)})


class KeywordModel:
    """Sees what the trainer would see; scores a class by its word in the text."""

    def fit(self, train: Any, val: Any, *, num_classes: int, seed: int) -> FitReport:
        self.seen = [(i, int(lab)) for b in BatchLoader(train, image_size=None)
                     for i, lab in zip(b.ids, b.labels, strict=True)]
        self.num_classes = num_classes
        return FitReport()

    def predict_proba(self, batch: Any) -> np.ndarray:
        words = ["cat", "dog", "car"]
        hits = np.array([[float(w in t.split()) for w in words] for t in batch.texts]) + 1e-3
        return hits / hits.sum(axis=1, keepdims=True)


def _dataset(home: Path) -> tuple[Any, DatasetInfo]:
    build(MultiLabelAdapter(), home=home)
    return load("tiny-multilabel", home), info("tiny-multilabel", home)


def test_multilabel_mode_trains_one_row_per_label_and_scores(isolated_home: Path) -> None:
    dataset, meta = _dataset(isolated_home)
    task = TASKS.get("classification")()
    model = KeywordModel()
    out = fit_and_evaluate(task, model, dataset, meta, seed=0)
    # Every (record, label) pair once, and nothing else.
    expected = sorted((f"train-{i}", c) for i, labels in enumerate(LABELS["train"]) for c in labels)
    assert sorted(model.seen) == expected and len(model.seen) == 9
    assert task.primary_metric == "mean_average_precision"
    assert out.eval_split == "test" and out.n == 3  # the record without labels is not scored
    # Mean labels per training record is 9 / 6 = 1.5; the keyword model ranks every class right.
    assert out.fit["mean_labels_per_record"] == pytest.approx(1.5)
    assert out.metrics["mean_average_precision"].value == pytest.approx(1.0)
    scores = np.asarray(out.predictions.column("scores").to_pylist())
    assert scores[0] == pytest.approx(np.minimum(1.0, 1.5 * np.array([1.001, 1.001, 0.001]) / 2.003))
    assert out.predictions.column("predicted").to_pylist() == [[0, 1], [2], [1]]
    assert out.metrics["multilabel_micro_f1"].value == pytest.approx(1.0)
    assert set(out.metrics) == {"mean_average_precision", "multilabel_micro_f1", "multilabel_macro_f1"}
    targets, back = task.metric_inputs(out.predictions)
    assert targets.tolist() == [[1, 1, 0], [0, 0, 1], [0, 1, 0]] and back == pytest.approx(scores)


def test_multilabel_mode_with_a_registered_baseline(isolated_home: Path) -> None:
    from mmbench.models import create

    dataset, meta = _dataset(isolated_home)
    out = fit_and_evaluate(TASKS.get("classification")(), create("majority"), dataset, meta, seed=0)
    # Majority scores are one distribution for all rows: each class's AP is its prevalence.
    # Test prevalences: cat 1/3, dog 2/3, car 1/3 -> mAP 4/9.
    assert out.metrics["mean_average_precision"].value == pytest.approx(4 / 9)
    for est in out.metrics.values():
        assert est.ci_low <= est.value <= est.ci_high


def test_multilabel_mode_evaluates_under_a_diagnostic_view(isolated_home: Path) -> None:
    from mmbench.tasks.base import EvalContext

    dataset, meta = _dataset(isolated_home)
    task = TASKS.get("classification")()
    model = KeywordModel()
    clean = fit_and_evaluate(task, model, dataset, meta, seed=0)
    permuted = fit_and_evaluate(task, model, dataset, meta, seed=0,
                                ctx=EvalContext(0, view="permute-texts:seed=0"))
    # The keyword model reads only the text: with the texts of other records its ranking breaks.
    assert clean.metrics["mean_average_precision"].value == pytest.approx(1.0)
    assert permuted.metrics["mean_average_precision"].value < 1.0
    assert permuted.predictions.column("id").to_pylist() == clean.predictions.column("id").to_pylist()
