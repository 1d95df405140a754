"""Multi-label mode of the classification task (records with a `labels` list, no `label`).

Any classifier trains on a view with one row per (record, label): each record appears
once per label it carries, with `label` set to that label (zero-copy; see views.py). A
softmax trained so learns p(c | x) ~ y_c / k for a record with k labels, so the scores
are `min(1, k_mean * p)` with k_mean the mean label count of a training record: a global
rescale, so each class's ranking (and its average precision) is the model's own, and the
0.5 decision threshold keeps a class holding at least half the share of a typical label.
A record with an empty `labels` list counts as unlabelled (it is not trained on or scored).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mmbench.data import DatasetInfo
from mmbench.stats import Estimate
from mmbench.tasks.base import TRAIN_SPLITS, Fitted, TaskError, TaskOutput, Training
from mmbench.tasks.classification import image_clusters, predict, score
from mmbench.tasks.views import has_nonempty_list, has_values, pick_splits_where, replicate

METRIC_NAMES = ("mean_average_precision", "multilabel_micro_f1", "multilabel_macro_f1")


def is_multilabel(dataset: Any) -> bool:
    """True when the train split (else the first split) has `labels` lists and no `label`."""
    names = list(dataset.keys())
    first = next((n for n in TRAIN_SPLITS if n in names), names[0] if names else None)
    if first is None:
        return False
    split = dataset[first]
    return not has_values("label")(split) and has_nonempty_list("labels")(split)


def _lengths(split: Any) -> np.ndarray:
    import pyarrow.compute as pc

    from mmbench.loader import column

    return np.asarray(pc.list_value_length(column(split, "labels")).fill_null(0).to_numpy(
        zero_copy_only=False), dtype=np.int64)


def num_classes(dataset: Any, info: DatasetInfo) -> int:
    """The class count: the dataset's class names, else one more than the largest label."""
    import pyarrow.compute as pc

    from mmbench.loader import column

    if info.class_names:
        return len(info.class_names)
    tops = [pc.max(pc.list_flatten(column(s, "labels"))).as_py() for s in dataset.values()]
    return int(max((t for t in tops if t is not None), default=-1)) + 1


def indicator(split: Any, width: int) -> np.ndarray:
    """[N, C] 0/1 targets from the `labels` column (built in numpy, not from Python lists)."""
    import pyarrow.compute as pc

    from mmbench.loader import column

    labels = column(split, "labels")
    rows = pc.list_parent_indices(labels).to_numpy()
    flat = pc.list_flatten(labels).to_numpy(zero_copy_only=False).astype(np.int64)
    out = np.zeros((len(split), width), dtype=np.int64)
    out[rows, flat] = 1
    return out


def multilabel_training(dataset: Any, info: DatasetInfo, view: Callable[[Any], Any],
                        objective: str) -> Training:
    """One row per (record, label) of train and val; the mean label count goes with the fit."""
    from mmbench.loader import column

    train, val, _ = pick_splits_where(dataset, has_nonempty_list("labels"))
    assert train is not None
    width = num_classes(dataset, info)
    if width < 1:
        raise TaskError("multi-label classification: no class in the labels")
    train_view = replicate(view(train), column(train, "labels"), "label", "multilabel")
    val_view = None if val is None else replicate(view(val), column(val, "labels"), "label", "multilabel")
    train_lengths = _lengths(train)
    k_mean = float(train_lengths[train_lengths > 0].mean())
    names = list(info.class_names) if info.class_names else [str(c) for c in range(width)]
    return Training(objective, train_view, val_view, names, extra={"mean_labels_per_record": k_mean})


def evaluate_multilabel(fitted: Fitted, dataset: Any, info: DatasetInfo, *,
                        view: Callable[[Any], Any], eval_view: str = "clean") -> TaskOutput:
    """Score a multi-label classifier; `eval_view` is the diagnostic view the evaluation
    shows the model (`mmbench.diagnostics.views`), applied before the task's own `view`."""
    from mmbench.diagnostics.views import apply_view, batch_transform

    _, _, eval_name = pick_splits_where(dataset, has_nonempty_list("labels"), need_train=False)
    width = num_classes(dataset, info)
    names = list(info.class_names) if info.class_names else [str(c) for c in range(width)]
    if fitted.classes and fitted.classes != names:
        raise TaskError("multi-label classification is scored on the label space it was fitted on; "
                        "the evaluation corpus's classes differ")
    started = time.perf_counter()
    split = dataset[eval_name]
    ids, _, probs = predict(fitted.model, view(apply_view(split, eval_view)), transform=batch_transform(eval_view))
    keep = _lengths(split) > 0
    k_mean = float(fitted.extra["mean_labels_per_record"])
    scores = np.clip(probs[keep] * k_mean, 0.0, 1.0)
    targets = indicator(split, width)[keep]
    clusters = image_clusters(split)[keep]
    predicted = time.perf_counter()
    metrics: dict[str, Estimate] = score(targets, scores, METRIC_NAMES, clusters)
    timings = {"fit_s": fitted.fit_s, "predict_s": predicted - started,
               "score_s": time.perf_counter() - predicted}
    kept_ids = [i for i, k in zip(ids, keep, strict=True) if k]
    fit_info = {**fitted.report, "mean_labels_per_record": k_mean}
    return TaskOutput(eval_name, len(kept_ids), metrics, _table(kept_ids, targets, scores, clusters),
                      timings, fit=fit_info)


def _table(ids: list[str], targets: np.ndarray, scores: np.ndarray, clusters: np.ndarray) -> Any:
    import pyarrow as pa

    from mmbench.metrics.multilabel import THRESHOLD

    return pa.table({"id": ids,
                     "labels": [np.flatnonzero(row).tolist() for row in targets],
                     "predicted": [np.flatnonzero(row >= THRESHOLD).tolist() for row in scores],
                     "scores": [row.tolist() for row in scores],
                     "cluster": clusters.astype(str).tolist()})


def metric_inputs(table: Any) -> tuple[np.ndarray, np.ndarray]:
    """(targets [N, C], scores [N, C]) back from a multi-label predictions table."""
    scores = np.asarray(table.column("scores").to_pylist(), dtype=np.float64)
    targets = np.zeros(scores.shape, dtype=np.int64)
    for i, labels in enumerate(table.column("labels").to_pylist()):
        targets[i, labels] = 1
    return targets, scores
