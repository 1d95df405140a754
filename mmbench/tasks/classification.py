"""Train on `train`, early-stop on `val`, score on the eval split."""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from mmbench.data import DatasetInfo
from mmbench.loader import BatchLoader
from mmbench.metrics import METRICS
from mmbench.stats import Estimate, bootstrap_mean, bootstrap_metric
from mmbench.tasks import register_task
from mmbench.tasks.base import TaskError, TaskOutput, pick_splits

CI_SEED = 0  # fixed so a CI depends only on the predictions


def predict(model: Any, split: Any, batch_size: int = 256) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(ids, labels, probabilities) over a split, batch by batch."""
    image_size = getattr(model, "image_size", None) if getattr(model, "uses_images", False) else None
    ids: list[str] = []
    labels: list[np.ndarray] = []
    probs: list[np.ndarray] = []
    for batch in BatchLoader(split, batch_size=batch_size, image_size=image_size):
        ids.extend(batch.ids)
        labels.append(batch.labels.numpy())
        probs.append(np.asarray(model.predict_proba(batch), dtype=np.float64))
    return ids, np.concatenate(labels), np.concatenate(probs)


def score(labels: np.ndarray, probs: np.ndarray, metric_names: tuple[str, ...]) -> dict[str, Estimate]:
    out: dict[str, Estimate] = {}
    for name in metric_names:
        metric = METRICS.get(name)
        if metric.per_sample is not None:
            out[name] = bootstrap_mean(metric.per_sample(labels, probs), seed=CI_SEED)
        else:
            out[name] = bootstrap_metric(metric.fn, labels, probs, seed=CI_SEED,
                                         resampled=metric.resampled)
    return out


def predictions_table(ids: list[str], labels: np.ndarray, probs: np.ndarray) -> Any:
    import pyarrow as pa

    return pa.table({"id": ids, "label": labels.astype(np.int64),
                     "prediction": probs.argmax(axis=1).astype(np.int64),
                     "probs": [row.tolist() for row in probs]})


@register_task("classification")
class ClassificationTask:
    name: ClassVar[str] = "classification"
    primary_metric: ClassVar[str] = "accuracy"

    def metric_names(self, num_classes: int) -> tuple[str, ...]:
        return ("accuracy", "macro_f1", "auroc") if num_classes == 2 else ("accuracy", "macro_f1")

    def evaluate(self, model: Any, dataset: Any, info: DatasetInfo, *, seed: int) -> TaskOutput:
        class_names = info.class_names
        if not class_names:
            raise TaskError("classification needs class names in the dataset info")
        train, val, eval_name = pick_splits(dataset)
        started = time.perf_counter()
        fit = model.fit(train, val, num_classes=len(class_names), seed=seed)
        fitted = time.perf_counter()
        split = dataset[eval_name]
        ids, labels, probs = predict(model, split)
        keep = labels >= 0  # unlabeled rows cannot be scored
        ids = [i for i, k in zip(ids, keep, strict=True) if k]
        labels, probs = labels[keep], probs[keep]
        predicted = time.perf_counter()
        metrics = score(labels, probs, self.metric_names(len(class_names)))
        timings = {"fit_s": fitted - started, "predict_s": predicted - fitted,
                   "score_s": time.perf_counter() - predicted}
        return TaskOutput(eval_name, len(labels), metrics, predictions_table(ids, labels, probs),
                          timings, fit=getattr(fit, "__dict__", {}))
