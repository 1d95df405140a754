"""Calibration metrics against models whose calibration is known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmbench.metrics import METRICS
from mmbench.metrics.calibration import (
    brier_per_sample,
    ece,
    ece_adaptive,
    ece_adaptive_resampled,
    ece_resampled,
    nll_per_sample,
    reliability,
)


def _constant(p: float, labels: np.ndarray) -> np.ndarray:
    """A model that gives every row probability p to class 0."""
    return np.tile([p, 1.0 - p], (len(labels), 1))


def test_a_constant_model_is_off_by_its_confidence_minus_its_accuracy() -> None:
    labels = np.array([0] * 50 + [1] * 50)  # class 0 right half the time
    probs = _constant(0.7, labels)
    assert ece(labels, probs) == pytest.approx(0.2)  # one bin: |0.5 - 0.7|
    assert ece_adaptive(labels, probs) == pytest.approx(0.2)
    labels = np.array([0] * 70 + [1] * 30)  # right as often as it is sure: calibrated
    assert ece(labels, _constant(0.7, labels)) == pytest.approx(0.0, abs=1e-12)


def test_a_perfectly_calibrated_model_has_zero_ece() -> None:
    # In each of three confidence groups the share of right answers equals the confidence.
    rows = []
    for confidence, n in ((0.6, 10), (0.8, 20), (0.95, 40)):
        right = round(confidence * n)
        rows += [(confidence, 0)] * right + [(confidence, 1)] * (n - right)
    probs = np.array([[c, 1 - c] for c, _ in rows])
    labels = np.array([y for _, y in rows])
    assert ece(labels, probs) == pytest.approx(0.0, abs=1e-12)
    assert ece_adaptive(labels, probs) == pytest.approx(0.0, abs=1e-12)  # ties are never split


def test_a_sure_and_wrong_model_has_the_worst_scores() -> None:
    labels = np.array([1, 1, 1, 1])
    probs = _constant(1.0, labels)
    assert ece(labels, probs) == pytest.approx(1.0)
    assert brier_per_sample(labels, probs).mean() == pytest.approx(2.0)
    assert nll_per_sample(labels, probs).mean() == pytest.approx(-math.log(1e-12))


def test_brier_and_nll_by_hand() -> None:
    labels = np.array([0, 1])
    probs = np.array([[0.7, 0.3], [0.7, 0.3]])
    assert brier_per_sample(labels, probs).tolist() == pytest.approx([0.18, 0.98])
    assert nll_per_sample(labels, probs).tolist() == pytest.approx([-math.log(0.7), -math.log(0.3)])


def test_the_resampled_ece_matches_the_plain_one_on_every_draw() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1, 1, 1], size=200)
    labels = rng.integers(0, 3, size=200)
    draws = rng.integers(0, 200, size=(5, 200))
    expected = [ece(labels[d], probs[d]) for d in draws]
    assert ece_resampled(labels, probs, draws).tolist() == pytest.approx(expected)
    identity = np.arange(200)[None, :]
    assert ece_adaptive_resampled(labels, probs, identity)[0] == pytest.approx(ece_adaptive(labels, probs))


def test_reliability_bins_count_every_row_and_leave_empty_bins_empty() -> None:
    labels = np.array([0, 0, 1, 0])
    probs = np.array([[0.97, 0.03], [0.95, 0.05], [0.94, 0.06], [0.55, 0.45]])
    bins = reliability(labels, probs)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 4
    top = bins[-1]  # [14/15, 1]
    assert top["count"] == 3 and top["accuracy"] == pytest.approx(2 / 3)
    assert top["confidence"] == pytest.approx((0.97 + 0.95 + 0.94) / 3)
    assert all(b["confidence"] is None and b["accuracy"] is None for b in bins if b["count"] == 0)


def test_calibration_metrics_are_registered_as_lower_is_better_diagnostics() -> None:
    for name in ("ece", "ece_adaptive", "brier", "nll"):
        metric = METRICS.get(name)
        assert not metric.higher_is_better and metric.diagnostic == "calibration"
