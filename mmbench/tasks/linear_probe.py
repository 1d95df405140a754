"""Linear probe: logistic regression on frozen embeddings.

Image embeddings (optionally concatenated with the embedding of the record's primary
text) of the train split feed scikit-learn's LogisticRegression. Its inverse
regularisation C is chosen on the val split from a small grid (on a seeded 20% of
train when the dataset has no separate val split), then the probe is refit on all of
train and scored on the eval split. A model that trains under the harness is fitted
contrastively on train's image-text pairs (one fit shared with the other embedding
tasks), then frozen.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from mmbench.data import DatasetInfo
from mmbench.tasks import register_task
from mmbench.tasks.base import EvalContext, Fitted, TaskError, TaskOutput, Training, pick_splits
from mmbench.tasks.classification import predictions_table, score
from mmbench.tasks.embeddings import (
    EmbeddingCache,
    contrastive_objective,
    contrastive_training,
    embed_images,
    embed_texts,
    labels_of,
    require,
    split_texts,
)

C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
HOLDOUT = 0.2
FEATURES = ("image", "image+text")


def features(model: Any, split: Any, kind: str, cache: EmbeddingCache | None = None
             ) -> tuple[list[str], np.ndarray]:
    ids, x = embed_images(model, split, cache)
    if kind == "image+text":
        texts = split_texts(split)
        emb = (cache.text_embeddings(model, split, "primary-text", texts) if cache is not None
               else embed_texts(model, texts))
        x = np.concatenate([x, emb], axis=1)
    return ids, x


def _fit(x: np.ndarray, y: np.ndarray, c: float, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x, y)


def full_proba(probe: Any, x: np.ndarray, num_classes: int) -> np.ndarray:
    """[N, num_classes] probabilities; classes absent from train get 0."""
    out = np.zeros((len(x), num_classes))
    out[:, probe.classes_.astype(np.int64)] = probe.predict_proba(x)
    return out


def choose_c(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, seed: int
             ) -> tuple[float, dict[str, float]]:
    """The grid's C with the best val accuracy (the smaller C on a tie); accuracy per C."""
    scores: dict[str, float] = {}
    if len(np.unique(y)) < 2:  # a tiny holdout split can leave one class: nothing to choose
        return 1.0, scores
    for c in C_GRID:
        scores[str(c)] = float((_fit(x, y, c, seed).predict(x_val) == y_val).mean())
    best = max(C_GRID, key=lambda c: (scores[str(c)], -c))
    return best, scores


@register_task("linear-probe")
class LinearProbeTask:
    name: ClassVar[str] = "linear-probe"
    primary_metric: ClassVar[str] = "accuracy"
    # Image features need only embed_images; features="image+text" also checks embed_texts.
    capabilities: ClassVar[tuple[tuple[str, ...], ...]] = (("embed_images",),)

    def __init__(self, features: str = "image") -> None:
        if features not in FEATURES:
            raise ValueError(f"linear-probe features must be one of {FEATURES}, got {features!r}")
        self.features = features

    def _labelled(self, model: Any, split: Any, cache: EmbeddingCache | None
                  ) -> tuple[list[str], np.ndarray, np.ndarray]:
        ids, x = features(model, split, self.features, cache)
        y = labels_of(split)
        keep = y >= 0
        return [i for i, k in zip(ids, keep, strict=True) if k], x[keep], y[keep]

    def objective(self, model: Any) -> str | None:
        return contrastive_objective(model)

    def training(self, objective: str, dataset: Any, info: DatasetInfo) -> Training:
        return contrastive_training(dataset)

    def evaluate(self, fitted: Fitted, dataset: Any, info: DatasetInfo, ctx: EvalContext) -> TaskOutput:
        """The probe is fitted on the evaluation corpus's own train split (the embeddings
        stay frozen), so a model fitted on another corpus is probed the same way."""
        model, seed = fitted.model, ctx.seed
        needs = ("embed_images", "embed_texts") if self.features == "image+text" else ("embed_images",)
        require(model, self.name, *needs)
        class_names = info.class_names
        if not class_names:
            raise TaskError("linear-probe needs class names in the dataset info")
        train, val, eval_name = pick_splits(dataset)
        started = time.perf_counter()
        _, x, y = self._labelled(model, train, ctx.cache)
        if len(np.unique(y)) < 2:
            raise TaskError("linear-probe needs at least two classes among the train labels")
        if val is not None and (labels_of(val) >= 0).any():
            _, x_val, y_val = self._labelled(model, val, ctx.cache)
            x_fit, y_fit = x, y
        else:  # carve a seeded holdout out of train to choose C
            order = np.random.default_rng(seed).permutation(len(y))
            cut = max(1, int(len(y) * HOLDOUT))
            x_val, y_val, x_fit, y_fit = x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]
        best_c, val_scores = choose_c(x_fit, y_fit, x_val, y_val, seed)
        probe = _fit(x, y, best_c, seed)
        ids, x_eval, y_eval = self._labelled(model, dataset[eval_name], ctx.cache)
        probs = full_proba(probe, x_eval, len(class_names))
        predicted = time.perf_counter()
        metrics = score(y_eval, probs, ("accuracy", "macro_f1"))
        timings = {"fit_s": fitted.fit_s, "probe_s": predicted - started,
                   "score_s": time.perf_counter() - predicted}
        return TaskOutput(eval_name, len(y_eval), metrics, predictions_table(ids, y_eval, probs), timings,
                          fit={**fitted.report, "probe_C": best_c, "probe_val_accuracy": val_scores,
                               "features": self.features})
