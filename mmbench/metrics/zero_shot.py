"""Prompt-template sensitivity of zero-shot classification.

Inputs: `labels` [N] and `template_preds` [N, T], the class each image gets when the
class prompts are built from template t alone. Each metric summarises the T
per-template accuracies; the spread is the population std (ddof=0), so one template
gives 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mmbench.metrics import Metric, register_metric

CHUNK = 100  # bootstrap resamples per block: bounds the [chunk, N, T] hit tensor


def template_accuracies(labels: np.ndarray, template_preds: np.ndarray) -> np.ndarray:
    """[T] accuracy of each template."""
    if len(labels) == 0:
        return np.full(template_preds.shape[1], np.nan)
    return (template_preds == labels[:, None]).mean(axis=0)


def _resampled(reduce: Callable[..., np.ndarray]) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    def fn(labels: np.ndarray, template_preds: np.ndarray, indices: np.ndarray) -> np.ndarray:
        hits = (template_preds == labels[:, None]).astype(np.float64)
        parts = [reduce(hits[indices[b0:b0 + CHUNK]].mean(axis=1), axis=1)
                 for b0 in range(0, len(indices), CHUNK)]
        return np.concatenate(parts)

    return fn


def template_acc_mean(labels: np.ndarray, template_preds: np.ndarray) -> float:
    return float(np.mean(template_accuracies(labels, template_preds)))


def template_acc_std(labels: np.ndarray, template_preds: np.ndarray) -> float:
    return float(np.std(template_accuracies(labels, template_preds)))


def template_acc_min(labels: np.ndarray, template_preds: np.ndarray) -> float:
    return float(np.min(template_accuracies(labels, template_preds)))


def template_acc_max(labels: np.ndarray, template_preds: np.ndarray) -> float:
    return float(np.max(template_accuracies(labels, template_preds)))


TEMPLATE_ACC_MEAN = register_metric(Metric("template_acc_mean", template_acc_mean,
                                           resampled=_resampled(np.mean)))
# A smaller spread means a model that depends less on the wording of the prompt.
TEMPLATE_ACC_STD = register_metric(Metric("template_acc_std", template_acc_std, higher_is_better=False,
                                          resampled=_resampled(np.std)))
TEMPLATE_ACC_MIN = register_metric(Metric("template_acc_min", template_acc_min,
                                          resampled=_resampled(np.min)))
TEMPLATE_ACC_MAX = register_metric(Metric("template_acc_max", template_acc_max,
                                          resampled=_resampled(np.max)))
