"""Calibration of a classifier's probabilities (labels [N], probabilities [N, C]).

- `ece`: expected calibration error of the top-class confidence over 15 equal-width bins
  of [0, 1] (Guo et al., 2017): the count-weighted mean of |accuracy - mean confidence|
  per bin; a confidence of exactly 1 falls in the last bin.
- `ece_adaptive`: the same over 15 equal-mass bins (cut at the confidence quantiles, so
  the counts are near-equal and rows of equal confidence share a bin).
- `brier`: the multi-class Brier score, the mean over rows of the squared distance between
  the probability vector and the one-hot label (0 is perfect, 2 the worst).
- `nll`: the mean negative log-likelihood of the label (probabilities clipped at 1e-12).

Lower is better for all four. `reliability` gives the data of a reliability diagram.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmbench.metrics import Metric, register_metric

BINS = 15
EPS = 1e-12


def _confidence(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(top-class probability, 0/1 whether the top class is the label) per row."""
    return probs.max(axis=1), (probs.argmax(axis=1) == labels).astype(np.float64)


def equal_width_bin(confidence: np.ndarray, bins: int = BINS) -> np.ndarray:
    """The bin of each confidence among `bins` equal-width bins of [0, 1]."""
    return np.minimum((confidence * bins).astype(np.int64), bins - 1)


def equal_mass_bin(confidence: np.ndarray, bins: int = BINS) -> np.ndarray:
    """The bin of each confidence among `bins` bins cut at its quantiles: near-equal counts,
    and rows of equal confidence always share a bin (a cut never splits a tie)."""
    ordered = np.sort(confidence)
    cuts = ordered[(np.arange(1, bins) * len(ordered)) // bins] if len(ordered) else ordered
    return np.searchsorted(cuts, confidence, side="right")


def _ece_of(confidence: np.ndarray, correct: np.ndarray, bin_of: np.ndarray, bins: int) -> float:
    if len(confidence) == 0:
        return float("nan")
    count = np.bincount(bin_of, minlength=bins).astype(np.float64)
    gap = np.bincount(bin_of, weights=correct - confidence, minlength=bins)
    return float(np.abs(gap).sum() / count.sum())  # sum_b n_b |acc_b - conf_b| / N


def ece(labels: np.ndarray, probs: np.ndarray) -> float:
    confidence, correct = _confidence(labels, probs)
    return _ece_of(confidence, correct, equal_width_bin(confidence), BINS)


def ece_adaptive(labels: np.ndarray, probs: np.ndarray) -> float:
    confidence, correct = _confidence(labels, probs)
    return _ece_of(confidence, correct, equal_mass_bin(confidence), BINS)


def _binned_resampled(confidence: np.ndarray, correct: np.ndarray, bins: np.ndarray,
                      indices: np.ndarray) -> np.ndarray:
    """ECE of every resample at once, each row keeping the bin `bins` gives it."""
    bin_of = bins[indices]
    n_boot, m = indices.shape
    cells = bin_of + (np.arange(n_boot) * BINS)[:, None]
    gap = np.bincount(cells.ravel(), weights=(correct - confidence)[indices].ravel(),
                      minlength=n_boot * BINS).reshape(n_boot, BINS)
    return np.abs(gap).sum(axis=1) / m


def ece_resampled(labels: np.ndarray, probs: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Equal-width ECE of every resample (the bins do not depend on the draw)."""
    confidence, correct = _confidence(labels, probs)
    return _binned_resampled(confidence, correct, equal_width_bin(confidence), indices)


def ece_adaptive_resampled(labels: np.ndarray, probs: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Equal-mass ECE of every resample, with the bins of the whole sample held fixed (the
    value on the sample itself is `ece_adaptive`); vectorised like `ece_resampled`."""
    confidence, correct = _confidence(labels, probs)
    return _binned_resampled(confidence, correct, equal_mass_bin(confidence), indices)


def brier_per_sample(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    onehot = np.zeros_like(probs, dtype=np.float64)
    onehot[np.arange(len(labels)), labels] = 1.0
    return ((probs - onehot) ** 2).sum(axis=1)


def nll_per_sample(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    return -np.log(np.clip(probs[np.arange(len(labels)), labels], EPS, 1.0))


def _mean(per_sample: Any) -> Any:
    def fn(labels: np.ndarray, probs: np.ndarray) -> float:
        return float(per_sample(labels, probs).mean()) if len(labels) else float("nan")
    return fn


def reliability(labels: np.ndarray, probs: np.ndarray, bins: int = BINS) -> list[dict[str, float | None]]:
    """Per equal-width bin: its edges, the rows in it, their mean confidence and accuracy
    (None for an empty bin, so the record stays strict JSON): a reliability diagram's points."""
    confidence, correct = _confidence(labels, probs)
    bin_of = equal_width_bin(confidence, bins)
    count = np.bincount(bin_of, minlength=bins)
    conf_sum = np.bincount(bin_of, weights=confidence, minlength=bins)
    correct_sum = np.bincount(bin_of, weights=correct, minlength=bins)
    out: list[dict[str, float | None]] = []
    for b in range(bins):
        n = int(count[b])
        out.append({"low": b / bins, "high": (b + 1) / bins, "count": n,
                    "confidence": float(conf_sum[b] / n) if n else None,
                    "accuracy": float(correct_sum[b] / n) if n else None})
    return out


ECE = register_metric(Metric("ece", ece, False, resampled=ece_resampled, diagnostic="calibration"))
ECE_ADAPTIVE = register_metric(Metric("ece_adaptive", ece_adaptive, False, resampled=ece_adaptive_resampled,
                                      diagnostic="calibration"))
BRIER = register_metric(Metric("brier", _mean(brier_per_sample), False, per_sample=brier_per_sample,
                               diagnostic="calibration"))
NLL = register_metric(Metric("nll", _mean(nll_per_sample), False, per_sample=nll_per_sample,
                             diagnostic="calibration"))
CALIBRATION_METRICS = ("ece", "ece_adaptive", "brier", "nll")
