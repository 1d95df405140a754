"""Accuracy within each class, and their mean (balanced accuracy), over (labels [N], probs [N, C])."""

from __future__ import annotations

import numpy as np

from mmbench.metrics import Metric, register_metric


def class_accuracies(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """[C] share of each class's rows predicted as that class (NaN for an absent class)."""
    num_classes = probs.shape[1]
    hits = np.bincount(labels, weights=np.argmax(probs, axis=1) == labels, minlength=num_classes)
    rows = np.bincount(labels, minlength=num_classes).astype(np.float64)
    return np.divide(hits, rows, out=np.full(num_classes, np.nan), where=rows > 0)


def balanced_accuracy(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean of the per-class accuracies over the classes present (scikit-learn's definition)."""
    per_class = class_accuracies(labels, probs)
    present = per_class[np.isfinite(per_class)]
    return float(present.mean()) if present.size else float("nan")


def balanced_accuracy_resampled(labels: np.ndarray, probs: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Balanced accuracy of every resample from per-resample class counts."""
    num_classes = probs.shape[1]
    hit = (np.argmax(probs, axis=1) == labels).astype(np.float64)
    cells = (labels[indices] + (np.arange(indices.shape[0]) * num_classes)[:, None]).ravel()
    size = indices.shape[0] * num_classes
    rows = np.bincount(cells, minlength=size).reshape(-1, num_classes).astype(np.float64)
    hits = np.bincount(cells, weights=hit[indices].ravel(), minlength=size).reshape(-1, num_classes)
    with np.errstate(invalid="ignore"):
        per_class = np.where(rows > 0, hits / np.maximum(rows, 1), np.nan)
        return np.nanmean(per_class, axis=1)


BALANCED_ACCURACY = register_metric(Metric("balanced_accuracy", balanced_accuracy, True,
                                           resampled=balanced_accuracy_resampled))
