"""Multi-label metrics over (targets [N, C] in {0, 1}, scores [N, C] in [0, 1]).

A class is predicted for a row when its score is at least `THRESHOLD`. F1 is micro
(pooled counts) or macro (mean over classes, 0 for a class never predicted nor present,
as scikit-learn's `zero_division=0`). mAP is the mean over classes of average precision
(step-wise area under the precision-recall curve, as scikit-learn computes it), over the
classes with at least one positive row: a class absent from the targets has no AP.

Each has a `resampled` form for the bootstrap: a resample is a vector of row counts,
so the counts (and the precision-recall steps) are weighted sums, with no copy of the
data per resample.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mmbench.metrics import Metric, register_metric

THRESHOLD = 0.5
CHUNK = 64  # resamples handled at once: bounds the [chunk, N] weight matrix


def _counts(targets: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """Weighted (tp, fp, fn) per class; weights [B, N] -> each [B, C]."""
    y = targets.astype(np.float64)
    p = (scores >= THRESHOLD).astype(np.float64)
    tp = weights @ (y * p)
    return tp, weights @ ((1 - y) * p), weights @ (y * (1 - p))


def _micro(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    num = 2 * tp.sum(axis=-1)
    den = num + fp.sum(axis=-1) + fn.sum(axis=-1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _macro(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    den = 2 * tp + fp + fn
    return np.divide(2 * tp, den, out=np.zeros_like(tp), where=den > 0).mean(axis=-1)


def _average_precision(targets: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean AP over the classes with a positive row, per weight vector: [B, N] -> [B]."""
    per_class = np.full((weights.shape[0], targets.shape[1]), np.nan)
    for c in range(targets.shape[1]):
        order = np.argsort(-scores[:, c], kind="stable")
        s, y = scores[order, c], targets[order, c].astype(np.float64)
        w = weights[:, order]
        tp = np.cumsum(w * y, axis=1)
        seen = np.cumsum(w, axis=1)
        # Tied scores form one threshold: keep only the last position of each run.
        last = np.r_[s[1:] != s[:-1], True]
        tp, seen = tp[:, last], seen[:, last]
        positives = tp[:, -1:]
        recall_step = np.diff(np.c_[np.zeros((len(w), 1)), tp], axis=1)
        precision = np.divide(tp, seen, out=np.zeros_like(tp), where=seen > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ap = (recall_step * precision).sum(axis=1) / positives[:, 0]
        per_class[:, c] = np.where(positives[:, 0] > 0, ap, np.nan)
    with np.errstate(invalid="ignore"):
        present = np.isfinite(per_class)
        total = np.where(present, per_class, 0.0).sum(axis=1)
        return np.divide(total, present.sum(axis=1), out=np.full(len(total), np.nan),
                         where=present.any(axis=1))


def _ones(n: int) -> np.ndarray:
    return np.ones((1, n))


def micro_f1(targets: np.ndarray, scores: np.ndarray) -> float:
    return float(_micro(*_counts(targets, scores, _ones(len(targets))))[0])


def macro_f1(targets: np.ndarray, scores: np.ndarray) -> float:
    return float(_macro(*_counts(targets, scores, _ones(len(targets))))[0])


def mean_average_precision(targets: np.ndarray, scores: np.ndarray) -> float:
    return float(_average_precision(targets, scores, _ones(len(targets)))[0])


def resample_weights(indices: np.ndarray, n: int) -> np.ndarray:
    """[B, n] drawn-row indices -> [B, n] how often each row was drawn."""
    b = indices.shape[0]
    flat = (indices + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def _micro_weighted(targets: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return _micro(*_counts(targets, scores, weights))


def _macro_weighted(targets: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return _macro(*_counts(targets, scores, weights))


Weighted = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _chunked(fn: Weighted) -> Weighted:
    """fn over row weights -> the metric on every resample of `indices`, CHUNK at a time."""

    def resampled(targets: np.ndarray, scores: np.ndarray, indices: np.ndarray) -> np.ndarray:
        parts = [fn(targets, scores, resample_weights(indices[i:i + CHUNK], len(targets)))
                 for i in range(0, len(indices), CHUNK)]
        return np.concatenate(parts) if parts else np.zeros(0)

    return resampled


MICRO_F1 = register_metric(Metric("multilabel_micro_f1", micro_f1, True,
                                  resampled=_chunked(_micro_weighted)))
MACRO_F1 = register_metric(Metric("multilabel_macro_f1", macro_f1, True,
                                  resampled=_chunked(_macro_weighted)))
MAP = register_metric(Metric("mean_average_precision", mean_average_precision, True,
                             resampled=_chunked(_average_precision)))
