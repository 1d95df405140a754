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
    from sklearn.metrics import f1_score

    num_classes = probs.shape[1]
    return float(f1_score(labels, np.argmax(probs, axis=1), labels=list(range(num_classes)),
                          average="macro", zero_division=0))


def auroc(labels: np.ndarray, probs: np.ndarray) -> float:
    """Binary AUROC of the positive class; NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    if probs.shape[1] != 2 or len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, probs[:, 1]))


ACCURACY = register_metric(Metric("accuracy", accuracy, True, per_sample=correct))
MACRO_F1 = register_metric(Metric("macro_f1", macro_f1, True))
AUROC = register_metric(Metric("auroc", auroc, True))
