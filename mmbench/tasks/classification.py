"""Train on `train`, early-stop on `val`, score on the eval split."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from mmbench.data import DatasetInfo
from mmbench.diagnostics import efficiency
from mmbench.diagnostics.views import CLEAN, apply_view, batch_transform
from mmbench.loader import Batch, BatchLoader
from mmbench.metrics import METRICS
from mmbench.metrics.calibration import CALIBRATION_METRICS, reliability
from mmbench.stats import Estimate, bootstrap_mean, bootstrap_metric
from mmbench.tasks import register_task
from mmbench.tasks.base import (
    TRAINED_CLASSIFIER,
    EvalContext,
    Fitted,
    TaskError,
    TaskOutput,
    Training,
    accepts,
    pick_splits,
)
from mmbench.tasks.batching import eval_batch_size
from mmbench.tasks.label_space import to_fitted_space
from mmbench.tasks.views import has_values, pick_splits_where

CI_SEED = 0  # fixed so a CI depends only on the predictions


def predict(model: Any, split: Any, batch_size: int | None = None,
            transform: Callable[[Any], Any] | None = None,
            calls: list[tuple[int, float]] | None = None,
            first: list[Batch] | None = None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(ids, labels, probabilities) over a split, batch by batch (each passed through
    `transform` first, when given: a perturbation view); `calls`, when given, receives
    (rows, seconds) of every `predict_proba` call, and `first` the first batch's first
    `efficiency.PROBE_BATCH` rows (the efficiency figures read them)."""
    image_size = getattr(model, "image_size", None) if getattr(model, "uses_images", False) else None
    ids: list[str] = []
    labels: list[np.ndarray] = []
    probs: list[np.ndarray] = []
    for batch in BatchLoader(split, batch_size=batch_size or eval_batch_size(model), image_size=image_size,
                             cache_images=False):
        if transform is not None:
            batch = transform(batch)
        if first is not None and not first:
            first.append(batch.head(efficiency.PROBE_BATCH))
        ids.extend(batch.ids)
        labels.append(batch.labels.numpy())
        started = time.perf_counter()
        probs.append(np.asarray(model.predict_proba(batch), dtype=np.float64))  # on the host: synchronised
        if calls is not None:
            calls.append((len(batch), time.perf_counter() - started))
    return ids, np.concatenate(labels), np.concatenate(probs)


def score(labels: np.ndarray, probs: np.ndarray, metric_names: tuple[str, ...],
          clusters: np.ndarray | None = None) -> dict[str, Estimate]:
    out: dict[str, Estimate] = {}
    for name in metric_names:
        metric = METRICS.get(name)
        if metric.per_sample is not None:
            out[name] = bootstrap_mean(metric.per_sample(labels, probs), seed=CI_SEED, clusters=clusters)
        else:
            out[name] = bootstrap_metric(metric.fn, labels, probs, seed=CI_SEED,
                                         resampled=metric.resampled, clusters=clusters)
    return out


def image_clusters(split: Any) -> np.ndarray:
    """Bootstrap cluster per row: its first image's sha256 (rows sharing a picture are
    correlated), or the row's own id when it has no image."""
    from mmbench.loader import column, first_image_values

    out = np.asarray(column(split, "id").to_pylist(), dtype=object)
    if "images" in split.column_names:
        for row, sha in enumerate(first_image_values(column(split, "images"), "sha256")):
            if sha is not None:
                out[row] = sha
    return out


def predictions_table(ids: list[str], labels: np.ndarray, probs: np.ndarray) -> Any:
    import pyarrow as pa

    return pa.table({"id": ids, "label": labels.astype(np.int64),
                     "prediction": probs.argmax(axis=1).astype(np.int64),
                     "probs": [row.tolist() for row in probs]})


@register_task("classification")
class ClassificationTask:
    """Single-label (`label`), or multi-label when the records carry `labels` and no `label`."""

    name: ClassVar[str] = "classification"
    primary_metric: str = "accuracy"  # multi-label mode sets mean_average_precision
    capabilities: ClassVar[tuple[tuple[str, ...], ...]] = (TRAINED_CLASSIFIER,)
    # Evaluates under diagnostic views (mmbench.diagnostics.views): permutations, perturbations.
    supports_views: ClassVar[bool] = True

    def metric_names(self, num_classes: int) -> tuple[str, ...]:
        return ("accuracy", "macro_f1", "auroc") if num_classes == 2 else ("accuracy", "macro_f1")

    @staticmethod
    def metric_inputs(table: Any) -> tuple[np.ndarray, np.ndarray]:
        """(targets, scores) of the metrics from a stored predictions table (either mode)."""
        if "scores" in table.column_names:
            from mmbench.tasks.multilabel import metric_inputs

            return metric_inputs(table)
        return (np.asarray(table.column("label").to_numpy(), dtype=np.int64),
                np.asarray(table.column("probs").to_pylist(), dtype=np.float64))

    def view(self, split: Any) -> Any:
        """What the model is given of a split; a subclass may derive columns (see views.py)."""
        return split

    def extra_metrics(self, labels: np.ndarray, probs: np.ndarray, clusters: np.ndarray,
                      class_names: list[str]) -> dict[str, Estimate]:
        """Metrics beyond the registered names (a subclass's per-class scores)."""
        return {}

    def objective(self, model: Any) -> str | None:
        """Classifiers are fitted on this task's view of the train split (its name says which)."""
        return self.name if accepts(type(self), model if isinstance(model, type) else type(model)) else None

    def training(self, objective: str, dataset: Any, info: DatasetInfo) -> Training:
        from mmbench.tasks.multilabel import is_multilabel, multilabel_training

        if is_multilabel(dataset):
            return multilabel_training(dataset, info, self.view, self.name)
        train, val, _ = pick_splits(dataset)
        return Training(self.name, self.view(train), None if val is None else self.view(val),
                        list(self._class_names(info)))

    def _class_names(self, info: DatasetInfo) -> list[str]:
        if not info.class_names:
            raise TaskError(f"{self.name} needs class names in the dataset info")
        return list(info.class_names)

    def evaluate(self, fitted: Fitted, dataset: Any, info: DatasetInfo, ctx: EvalContext) -> TaskOutput:
        from mmbench.tasks.multilabel import evaluate_multilabel, is_multilabel

        if is_multilabel(dataset):
            self.primary_metric = "mean_average_precision"
            return evaluate_multilabel(fitted, dataset, info, view=self.view, eval_view=ctx.view)
        class_names = self._class_names(info)
        _, _, eval_name = pick_splits_where(dataset, has_values("label"), need_train=False)
        started = time.perf_counter()
        split = dataset[eval_name]
        device = str(getattr(fitted.model, "device", "cpu"))
        calls: list[tuple[int, float]] = []
        first: list[Batch] | None = None
        if ctx.view == CLEAN:
            efficiency.start(device)
            first = []
        ids, labels, probs = predict(fitted.model, self.view(apply_view(split, ctx.view)),
                                     transform=batch_transform(ctx.view), calls=calls, first=first)
        labels, probs, names, notes = to_fitted_space(labels, probs, class_names, fitted.classes,
                                                      ctx.unseen_classes)
        keep = labels >= 0  # unlabeled rows cannot be scored
        ids = [i for i, k in zip(ids, keep, strict=True) if k]
        labels, probs = labels[keep], probs[keep]
        clusters = image_clusters(split)[keep]
        predicted = time.perf_counter()
        metrics = score(labels, probs, self.metric_names(len(names)), clusters)
        metrics.update(self.extra_metrics(labels, probs, clusters, names))
        diagnostics: dict[str, Any] = {}
        if ctx.view == CLEAN:
            # Calibration comes free from the same probabilities: every classifier reports it,
            # and its cost; both on the split as it is (a view only needs its scores).
            metrics.update(score(labels, probs, CALIBRATION_METRICS, clusters))
            diagnostics["reliability"] = reliability(labels, probs)
        timings = {"fit_s": fitted.fit_s, "predict_s": predicted - started,
                   "score_s": time.perf_counter() - predicted}
        table = predictions_table(ids, labels, probs).append_column("cluster", [clusters.astype(str).tolist()])
        if ctx.view == CLEAN:
            diagnostics["efficiency"] = efficiency.probe(fitted.model, self.view(split), rows=len(ids),
                                                         predict_s=timings["predict_s"], calls=calls, device=device,
                                                         first=first[0] if first else None)
        return TaskOutput(eval_name, len(labels), metrics, table, timings, fit={**fitted.report, **notes},
                          diagnostics=diagnostics)
