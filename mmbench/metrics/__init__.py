"""Metrics: pure functions of (targets, scores), registered with their direction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mmbench.registry import Registry


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[..., float]
    higher_is_better: bool = True
    # Per-sample scores whose mean is the metric (accuracy-type): cheap bootstrap, McNemar.
    per_sample: Callable[..., Any] | None = None
    # fn(labels, scores, indices [B, n]) -> [B] values: the metric on B resamples at once.
    resampled: Callable[..., Any] | None = None


METRICS: Registry[Metric] = Registry("metric")

_BUILTIN = {
    "accuracy": "mmbench.metrics.classification:ACCURACY",
    "macro_f1": "mmbench.metrics.classification:MACRO_F1",
    "auroc": "mmbench.metrics.classification:AUROC",
}
for _name, _target in _BUILTIN.items():
    METRICS.register_lazy(_name, _target)


def register_metric(metric: Metric) -> Metric:
    METRICS.register(metric.name, metric, origin=metric.fn.__module__)
    return metric


__all__ = ["METRICS", "Metric", "register_metric"]
