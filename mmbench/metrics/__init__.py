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
    # The diagnostic a metric belongs to ("calibration"), "" for a score: the leaderboard
    # ranks by scores and shows diagnostics in their own sections.
    diagnostic: str = ""


METRICS: Registry[Metric] = Registry("metric")

_BUILTIN = {
    "accuracy": "mmbench.metrics.classification:ACCURACY",
    "macro_f1": "mmbench.metrics.classification:MACRO_F1",
    "auroc": "mmbench.metrics.classification:AUROC",
    "i2t_recall@1": "mmbench.metrics.retrieval:I2T_R1",
    "i2t_recall@5": "mmbench.metrics.retrieval:I2T_R5",
    "i2t_recall@10": "mmbench.metrics.retrieval:I2T_R10",
    "t2i_recall@1": "mmbench.metrics.retrieval:T2I_R1",
    "t2i_recall@5": "mmbench.metrics.retrieval:T2I_R5",
    "t2i_recall@10": "mmbench.metrics.retrieval:T2I_R10",
    "i2t_median_rank": "mmbench.metrics.retrieval:I2T_MEDR",
    "t2i_median_rank": "mmbench.metrics.retrieval:T2I_MEDR",
    "mean_recall": "mmbench.metrics.retrieval:MEAN_RECALL",
    "template_acc_mean": "mmbench.metrics.zero_shot:TEMPLATE_ACC_MEAN",
    "template_acc_std": "mmbench.metrics.zero_shot:TEMPLATE_ACC_STD",
    "template_acc_min": "mmbench.metrics.zero_shot:TEMPLATE_ACC_MIN",
    "template_acc_max": "mmbench.metrics.zero_shot:TEMPLATE_ACC_MAX",
    "vqa": "mmbench.metrics.vqa:VQA",
    "vqa_lenient": "mmbench.metrics.vqa:VQA_LENIENT",
    "exact_match": "mmbench.metrics.vqa:EXACT_MATCH",
    "multilabel_micro_f1": "mmbench.metrics.multilabel:MICRO_F1",
    "multilabel_macro_f1": "mmbench.metrics.multilabel:MACRO_F1",
    "mean_average_precision": "mmbench.metrics.multilabel:MAP",
    "balanced_accuracy": "mmbench.metrics.per_class:BALANCED_ACCURACY",
    "circular_accuracy": "mmbench.metrics.choice:CIRCULAR_ACCURACY",
    "ece": "mmbench.metrics.calibration:ECE",
    "ece_adaptive": "mmbench.metrics.calibration:ECE_ADAPTIVE",
    "brier": "mmbench.metrics.calibration:BRIER",
    "nll": "mmbench.metrics.calibration:NLL",
}
for _name, _target in _BUILTIN.items():
    METRICS.register_lazy(_name, _target)


def register_metric(metric: Metric) -> Metric:
    METRICS.register(metric.name, metric, origin=metric.fn.__module__)
    return metric


__all__ = ["METRICS", "Metric", "register_metric"]
