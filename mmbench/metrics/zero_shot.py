"""Prompt-template sensitivity of zero-shot classification.

Inputs: `labels` [N] and `template_preds` [N, T], the class each image gets when the
class prompts are built from template t alone. Each metric summarises the T
per-template accuracies; the spread is the population std (ddof=0), so one template
gives 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmbench.metrics import Metric, register_metric


def template_accuracies(labels: np.ndarray, template_preds: np.ndarray) -> np.ndarray:
    """[T] accuracy of each template; NaN when given class scores rather than predictions.

    A reader that only knows the classification layout (label + class scores) hands these
    metrics a float score matrix, from which no per-template accuracy can be had: NaN
    then says "not computable" instead of a wrong number.
    """
    template_preds = np.asarray(template_preds)
    if len(labels) == 0 or template_preds.ndim != 2 or not np.issubdtype(template_preds.dtype, np.integer):
        return np.full(template_preds.shape[-1] if template_preds.ndim == 2 else 1, np.nan)
    return (template_preds == labels[:, None]).mean(axis=0)


@dataclass(frozen=True)
class _Spread:
    """One summary (mean, std, min, max) of the per-template accuracies; picklable."""

    reduce: str

    def __call__(self, labels: np.ndarray, template_preds: np.ndarray) -> float:
        return float(getattr(np, self.reduce)(template_accuracies(labels, template_preds)))

    def resampled(self, labels: np.ndarray, template_preds: np.ndarray, indices: np.ndarray) -> np.ndarray:
        template_preds = np.asarray(template_preds)
        if template_preds.ndim != 2 or not np.issubdtype(template_preds.dtype, np.integer):
            return np.full(len(indices), np.nan)
        hits = (template_preds == labels[:, None]).astype(np.float64)  # [N, T]
        n_boot, drawn = indices.shape
        # How often each row is drawn [B, N], times the hits: every template's accuracy in
        # every resample [B, T] (exact integer sums: the values of gathering the hits).
        offsets = (np.arange(n_boot) * len(labels))[:, None]
        counts = np.bincount((indices + offsets).ravel(), minlength=n_boot * len(labels))
        accuracies = counts.reshape(n_boot, len(labels)).astype(np.float64) @ hits / drawn
        return np.asarray(getattr(np, self.reduce)(accuracies, axis=1))


def _spread(name: str, reduce: str, higher_is_better: bool = True) -> Metric:
    fn = _Spread(reduce)
    return register_metric(Metric(name, fn, higher_is_better, resampled=fn.resampled))


TEMPLATE_ACC_MEAN = _spread("template_acc_mean", "mean")
# A smaller spread means a model that depends less on the wording of the prompt.
TEMPLATE_ACC_STD = _spread("template_acc_std", "std", higher_is_better=False)
TEMPLATE_ACC_MIN = _spread("template_acc_min", "min")
TEMPLATE_ACC_MAX = _spread("template_acc_max", "max")
