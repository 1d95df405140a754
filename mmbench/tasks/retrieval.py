"""Image-text retrieval: every image of the eval split against every one of its captions.

A model that trains under the harness (`fit_contrastive`) is fitted on the train split's
image-text pairs (one fit shared with the other embedding tasks); any other dual encoder
is scored as it comes. Recall@1/5/10
and median rank in both directions; the CIs resample images, each drawn image bringing
all of its captions (a clustered bootstrap), against the whole gallery.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from mmbench.data import DatasetInfo
from mmbench.metrics.retrieval import ALL, check_ties, i2t_ranks, t2i_ranks
from mmbench.stats import Estimate, bootstrap_metric
from mmbench.tasks import register_task
from mmbench.tasks.base import DUAL_ENCODER, EvalContext, Fitted, TaskError, TaskOutput, Training
from mmbench.tasks.embeddings import (
    contrastive_objective,
    contrastive_training,
    embed_images,
    embed_texts,
    require,
)
from mmbench.tasks.views import has_nonempty_list, pick_splits_where

CI_SEED = 0


def caption_lists(split: Any) -> list[list[str]]:
    from mmbench.loader import column

    return [[c for c in (caps or []) if c] for caps in column(split, "captions").to_pylist()]


def score_rows(i2t: np.ndarray, t2i: np.ndarray) -> dict[str, Estimate]:
    """Every retrieval metric with a bootstrap CI over images (rows; see metrics.retrieval)."""
    return {name: bootstrap_metric(m.fn, i2t, t2i, seed=CI_SEED, resampled=m.resampled)
            for name, m in ALL.items()}


def predictions_table(ids: list[str], captions: list[list[str]], i2t: np.ndarray, t2i: np.ndarray,
                      text_image: np.ndarray, top1: np.ndarray, texts: list[str]) -> Any:
    import pyarrow as pa

    per_image: list[list[int]] = [[] for _ in ids]
    for j, i in enumerate(text_image):
        per_image[i].append(int(t2i[j]))
    return pa.table({
        "id": ids,
        "num_captions": [len(c) for c in captions],
        "i2t_rank": pa.array([None if np.isnan(r) else int(r) for r in i2t], type=pa.int64()),
        "t2i_ranks": pa.array(per_image, type=pa.list_(pa.int64())),
        "top1_text": [texts[k] if texts else None for k in top1],
    })


@register_task("retrieval")
class RetrievalTask:
    name: ClassVar[str] = "retrieval"
    primary_metric: ClassVar[str] = "mean_recall"
    capabilities: ClassVar[tuple[tuple[str, ...], ...]] = (DUAL_ENCODER,)
    option_names: ClassVar[tuple[str, ...]] = ("ties",)

    def __init__(self, ties: str = "pessimistic") -> None:
        self.ties = check_ties(ties)

    @staticmethod
    def metric_inputs(table: Any) -> tuple[np.ndarray, np.ndarray]:
        """(i2t ranks [n], NaN-padded t2i ranks [n, m]) per image from a predictions table."""
        i2t = np.array([np.nan if r is None else r for r in table.column("i2t_rank").to_pylist()], dtype=np.float64)
        lists = table.column("t2i_ranks").to_pylist()
        t2i = np.full((len(lists), max([len(r) for r in lists] + [1])), np.nan)
        for row, ranks in enumerate(lists):
            t2i[row, :len(ranks)] = ranks
        return i2t, t2i

    def objective(self, model: Any) -> str | None:
        return contrastive_objective(model)

    def training(self, objective: str, dataset: Any, info: DatasetInfo) -> Training:
        return contrastive_training(dataset)

    def evaluate(self, fitted: Fitted, dataset: Any, info: DatasetInfo, ctx: EvalContext) -> TaskOutput:
        model = fitted.model
        require(model, self.name, "embed_images", "embed_texts")
        if not any("captions" in dataset[s].column_names for s in dataset):
            raise TaskError("retrieval needs records with captions")
        _, _, eval_name = pick_splits_where(dataset, has_nonempty_list("captions"), need_train=False)
        started = time.perf_counter()
        split = dataset[eval_name]
        captions = caption_lists(split)
        texts = [c for caps in captions for c in caps]
        text_image = np.array([i for i, caps in enumerate(captions) for _ in caps], dtype=np.int64)
        ids, image_emb = embed_images(model, split, ctx.cache)
        text_emb = (ctx.cache.text_embeddings(model, split, "captions", texts) if ctx.cache is not None
                    else embed_texts(model, texts))
        sim = image_emb @ text_emb.T
        embedded = time.perf_counter()
        i2t, t2i = i2t_ranks(sim, text_image, self.ties), t2i_ranks(sim, text_image, self.ties)
        table = predictions_table(ids, captions, i2t, t2i, text_image, sim.argmax(axis=1), texts)
        metrics = score_rows(*self.metric_inputs(table))  # from the table, so a rescore agrees
        timings = {"fit_s": fitted.fit_s, "predict_s": embedded - started,
                   "score_s": time.perf_counter() - embedded}
        return TaskOutput(eval_name, int(np.isfinite(i2t).sum()), metrics, table, timings,
                          fit={**fitted.report, "ties": self.ties})
