"""Classification metrics over (labels [N], probabilities [N, C])."""

from __future__ import annotations

import numpy as np

from mmbench.metrics import Metric, register_metric


def correct(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """1.0 where the top-scoring class is the label."""
    return (np.argmax(probs, axis=1) == labels).astype(np.float64)


def accuracy(labels: np.ndarray, probs: np.ndarray) -> float:
    return float(correct(labels, probs).mean()) if len(labels) else float("nan")


def macro_f1(labels: np.ndarray, probs: np.ndarray) -> float:
    """Macro F1 over every class of the label space (a class never seen nor predicted
    scores 0), as scikit-learn's `f1_score(average="macro", zero_division=0)`; from the
    confusion counts, so evaluating does not import scikit-learn (2 s here)."""
    labels = np.asarray(labels, dtype=np.int64)
    return float(macro_f1_resampled(labels, probs, np.arange(len(labels))[None, :])[0])


def auroc(labels: np.ndarray, probs: np.ndarray) -> float:
    """Binary AUROC of the positive class, ties counted half (scikit-learn's
    `roc_auc_score`, without importing scikit-learn: 2.3 s and 176 MB); NaN when only
    one class is present."""
    labels = np.asarray(labels, dtype=np.int64)
    return float(auroc_resampled(labels, probs, np.arange(len(labels))[None, :])[0])


def macro_f1_resampled(labels: np.ndarray, probs: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Macro F1 of every resample from per-resample confusion counts (no Python loop)."""
    num_classes = probs.shape[1]
    preds = np.argmax(probs, axis=1)
    n_boot = indices.shape[0]
    cells = labels[indices] * num_classes + preds[indices] + (np.arange(n_boot) * num_classes**2)[:, None]
    confusion = np.bincount(cells.ravel(), minlength=n_boot * num_classes**2)
    confusion = confusion.reshape(n_boot, num_classes, num_classes).astype(np.float64)
    tp = np.diagonal(confusion, axis1=1, axis2=2)
    denom = confusion.sum(axis=1) + confusion.sum(axis=2)  # (tp+fn) + (tp+fp)
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return f1.mean(axis=1)


def auroc_resampled(labels: np.ndarray, probs: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Binary AUROC of every resample, ties counted half (the Mann-Whitney statistic).

    The scores are ranked once: per resample, the draws are counted per distinct score
    level, positives and negatives apart, and each positive is credited with the
    negatives below its level plus half of those at it, O(resamples x levels) with no
    per-resample sort (a rank of every resample cost most of a leaderboard's paired tests).
    """
    if probs.shape[1] != 2:
        return np.full(indices.shape[0], np.nan)
    levels, level_of = np.unique(probs[:, 1], return_inverse=True)
    n_boot, n_levels = indices.shape[0], len(levels)
    cells = level_of[indices] + (np.arange(n_boot) * n_levels)[:, None]
    positive = (labels == 1)[indices]
    pos = np.bincount(cells[positive], minlength=n_boot * n_levels).reshape(n_boot, n_levels)
    neg = np.bincount(cells[~positive], minlength=n_boot * n_levels).reshape(n_boot, n_levels)
    below = np.cumsum(neg, axis=1) - neg
    n_pos, n_neg = pos.sum(axis=1).astype(np.float64), neg.sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (pos * (below + 0.5 * neg)).sum(axis=1) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)


ACCURACY = register_metric(Metric("accuracy", accuracy, True, per_sample=correct))
MACRO_F1 = register_metric(Metric("macro_f1", macro_f1, True, resampled=macro_f1_resampled))
AUROC = register_metric(Metric("auroc", auroc, True, resampled=auroc_resampled))
