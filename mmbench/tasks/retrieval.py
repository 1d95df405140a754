"""Image-text retrieval: every image of the eval split against every one of its captions.

A model that trains under the harness (`fit_contrastive`) is first trained on the train
split's image-text pairs; any other dual encoder is scored as it comes. Recall@1/5/10
and median rank in both directions; the CIs resample images, each drawn image bringing
all of its captions (a clustered bootstrap), against the whole gallery.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np

from mmbench.data import DatasetInfo
from mmbench.metrics.retrieval import i2t_ranks, resampled_summary, summary, t2i_ranks
from mmbench.stats import bootstrap_indices
from mmbench.tasks import register_task
from mmbench.tasks.base import TaskError, TaskOutput
from mmbench.tasks.embeddings import embed_images, embed_texts, estimate, maybe_fit, require
from mmbench.tasks.views import has_nonempty_list, pick_splits_where

CI_SEED = 0


def caption_lists(split: Any) -> list[list[str]]:
    from mmbench.loader import column

    return [[c for c in (caps or []) if c] for caps in column(split, "captions").to_pylist()]


def retrieval_metrics(i2t: np.ndarray, t2i: np.ndarray, text_image: np.ndarray) -> dict[str, Any]:
    """Every metric with a CI from a clustered bootstrap over the images that have captions."""
    values = summary(i2t, t2i)
    queries = np.flatnonzero(np.isfinite(i2t))
    draws = resampled_summary(i2t, t2i, text_image, queries[bootstrap_indices(len(queries), CI_SEED)])
    return {name: estimate(value, draws[name]) for name, value in values.items()}


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

    def evaluate(self, model: Any, dataset: Any, info: DatasetInfo, *, seed: int) -> TaskOutput:
        require(model, self.name, "embed_images", "embed_texts")
        if not any("captions" in dataset[s].column_names for s in dataset):
            raise TaskError("retrieval needs records with captions")
        _, _, eval_name = pick_splits_where(dataset, has_nonempty_list("captions"), need_train=False)
        fit, fit_s = maybe_fit(model, dataset, eval_name, seed=seed)
        started = time.perf_counter()
        split = dataset[eval_name]
        captions = caption_lists(split)
        texts = [c for caps in captions for c in caps]
        text_image = np.array([i for i, caps in enumerate(captions) for _ in caps], dtype=np.int64)
        ids, image_emb = embed_images(model, split)
        sim = image_emb @ embed_texts(model, texts).T
        embedded = time.perf_counter()
        i2t, t2i = i2t_ranks(sim, text_image), t2i_ranks(sim, text_image)
        metrics = retrieval_metrics(i2t, t2i, text_image)
        table = predictions_table(ids, captions, i2t, t2i, text_image, sim.argmax(axis=1), texts)
        timings = {"fit_s": fit_s, "predict_s": embedded - started, "score_s": time.perf_counter() - embedded}
        return TaskOutput(eval_name, int(np.isfinite(i2t).sum()), metrics, table, timings, fit=fit)
