"""visual-entailment: the model reads the hypothesis, never the premise; metrics by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from mmbench.adapters import ADAPTERS
from mmbench.data import build, info, load
from mmbench.diagnostics.efficiency import MIN_TIMED
from mmbench.loader import BatchLoader
from mmbench.metrics import METRICS
from mmbench.models import create
from mmbench.models.base import FitReport
from mmbench.runner.fitting import fit_and_evaluate
from mmbench.stats import bootstrap_indices
from tests.fakes.snli_ve import write_fake


class Recorder:
    """Records every text it is shown; predicts a fixed class, or the class its text names."""

    uses_images = True
    image_size = 8

    def __init__(self, fixed: int | None = None) -> None:
        self.fixed = fixed
        self.seen: list[str] = []

    def fit(self, train: Any, val: Any, *, num_classes: int, seed: int) -> FitReport:
        for split in (train, val):
            for batch in BatchLoader(split, batch_size=2, image_size=self.image_size):
                assert batch.images is not None
                self.seen += batch.texts
        return FitReport()

    def predict_proba(self, batch: Any) -> np.ndarray:
        self.seen += batch.texts
        names = ["entailment", "neutral", "contradiction"]
        picks = [self.fixed if self.fixed is not None else next(c for c, n in enumerate(names) if n in t)
                 for t in batch.texts]
        return np.eye(3)[picks]


def snli(tmp_path: Path, home: Path) -> tuple[Any, Any]:
    write_fake(tmp_path / "snli")
    build(ADAPTERS.get("snli-ve")(), tmp_path / "snli", home=home)
    return load("snli-ve", home), info("snli-ve", home)


def test_model_sees_the_hypothesis_only(tmp_path: Path, isolated_home: Path) -> None:
    dataset, meta = snli(tmp_path, isolated_home)
    model = Recorder()
    out = fit_and_evaluate(ve_task(), model, dataset, meta, seed=0)
    hypotheses = {h for split in dataset.values() for h in split["hypothesis"]}
    premises = {p for split in dataset.values() for p in split["text"]}
    # train, dev (early stopping), test, and the test rows again for the efficiency figures:
    # MIN_TIMED timed calls (the split is one batch, its call the warm-up), one FLOP count
    assert len(model.seen) == 6 + 3 + 3 + (MIN_TIMED + 1) * 3
    assert set(model.seen) <= hypotheses and not set(model.seen) & premises
    assert out.eval_split == "test" and out.n == 3
    assert out.metrics["accuracy"].value == 1.0
    assert dataset["test"]["text"][0].startswith("A person stands")  # stored data unchanged


def test_metrics_of_a_constant_model(tmp_path: Path, isolated_home: Path) -> None:
    dataset, meta = snli(tmp_path, isolated_home)
    out = fit_and_evaluate(ve_task(), Recorder(fixed=0), dataset, meta, seed=0)
    m = {k: v.value for k, v in out.metrics.items()}
    # Test labels 0, 1, 2; always 0: right on entailment only.
    assert m["accuracy"] == pytest.approx(1 / 3)
    assert (m["accuracy_entailment"], m["accuracy_neutral"], m["accuracy_contradiction"]) == (1.0, 0.0, 0.0)
    assert m["balanced_accuracy"] == pytest.approx(1 / 3)
    assert m["macro_f1"] == pytest.approx(f1_score([0, 1, 2], [0, 0, 0], average="macro"))  # 0.5 / 3
    for est in out.metrics.values():
        assert est.ci_low <= est.value <= est.ci_high or np.isnan(est.ci_low)


def test_a_registered_baseline_runs(tmp_path: Path, isolated_home: Path) -> None:
    dataset, meta = snli(tmp_path, isolated_home)
    model = create("text-only", hidden=8, train={"epochs": 1, "batch_size": 4})
    out = fit_and_evaluate(ve_task(), model, dataset, meta, seed=0)
    assert {"accuracy", "macro_f1", "balanced_accuracy", "accuracy_neutral"} <= set(out.metrics)
    assert "A person stands" not in " ".join(model.vocab.words)  # the premise's words were never read
    assert "person" not in model.vocab.words and "someone" in model.vocab.words


def test_balanced_accuracy_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    probs = rng.random((200, 3)) + np.eye(3)[labels] * 0.4
    metric = METRICS.get("balanced_accuracy")
    assert metric.higher_is_better
    assert metric.fn(labels, probs) == pytest.approx(balanced_accuracy_score(labels, probs.argmax(1)))
    indices = bootstrap_indices(200, seed=1, n_boot=30)
    fast = metric.resampled(labels, probs, indices)
    slow = [balanced_accuracy_score(labels[i], probs[i].argmax(1)) for i in indices]
    assert fast == pytest.approx(slow)


def ve_task() -> Any:
    from mmbench.tasks import TASKS

    return TASKS.get("visual-entailment")()
