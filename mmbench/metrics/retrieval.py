"""Image-text retrieval metrics from a similarity matrix, when an image may have several captions.

Inputs: `sim` [n_images, n_texts] (higher = more similar) and `text_image` [n_texts], the
index of the image each caption belongs to. An image without captions stays in the
gallery as a distractor for text->image but asks no image->text query.

- image->text rank of image i: 1-based position of the FIRST of its captions in the
  ranking of all texts, so a hit at K means ANY of its captions is in the top K.
- text->image rank of caption j: 1-based position of its own image among all images.

Ties count against the model: a wrong item with the same score as the right one is
ranked ahead of it (a constant similarity matrix gets the worst possible ranks, never
lucky hits). Correct captions tied with each other do not push one another down.
"""

from __future__ import annotations

import numpy as np

from mmbench.metrics import Metric, register_metric

KS = (1, 5, 10)
ROW_BLOCK = 512  # images per block, so the [block, n_texts] masks stay small


def _check(sim: np.ndarray, text_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sim = np.asarray(sim)
    if not np.issubdtype(sim.dtype, np.floating):  # keep float32 as is: the matrix may be large
        sim = sim.astype(np.float64)
    text_image = np.asarray(text_image, dtype=np.int64)
    if sim.ndim != 2 or sim.shape[1] != len(text_image):
        raise ValueError(f"sim {sim.shape} does not match {len(text_image)} captions")
    if len(text_image) and (text_image.min() < 0 or text_image.max() >= sim.shape[0]):
        raise ValueError("text_image holds an index outside the image range")
    return sim, text_image


def i2t_ranks(sim: np.ndarray, text_image: np.ndarray) -> np.ndarray:
    """[n_images] float ranks of each image's best caption; NaN for an image without captions."""
    sim, text_image = _check(sim, text_image)
    ranks = np.full(sim.shape[0], np.nan)
    for start in range(0, sim.shape[0], ROW_BLOCK):
        block = sim[start:start + ROW_BLOCK]
        own = text_image[None, :] == np.arange(start, start + len(block))[:, None]
        best = np.where(own, block, -np.inf).max(axis=1, initial=-np.inf)
        wrong_ahead = (~own & (block >= best[:, None])).sum(axis=1)
        has = own.any(axis=1)
        ranks[start:start + len(block)][has] = 1.0 + wrong_ahead[has]
    return ranks


def t2i_ranks(sim: np.ndarray, text_image: np.ndarray) -> np.ndarray:
    """[n_texts] int ranks of each caption's own image among all images."""
    sim, text_image = _check(sim, text_image)
    own = sim[text_image, np.arange(len(text_image))]
    # Counts the own image once (own >= own) plus every other image scoring at least as high.
    return (sim >= own[None, :]).sum(axis=0).astype(np.int64)


def recall_at(ranks: np.ndarray, k: int) -> float:
    ranks = ranks[np.isfinite(ranks)]
    return float((ranks <= k).mean()) if ranks.size else float("nan")


def median_rank(ranks: np.ndarray) -> float:
    ranks = ranks[np.isfinite(ranks)]
    return float(np.median(ranks)) if ranks.size else float("nan")


def summary(i2t: np.ndarray, t2i: np.ndarray) -> dict[str, float]:
    """Every retrieval metric from the two rank arrays."""
    out: dict[str, float] = {}
    for direction, ranks in (("i2t", i2t), ("t2i", t2i)):
        for k in KS:
            out[f"{direction}_recall@{k}"] = recall_at(np.asarray(ranks, dtype=np.float64), k)
        out[f"{direction}_median_rank"] = median_rank(np.asarray(ranks, dtype=np.float64))
    out["mean_recall"] = float(np.mean([out[f"{d}_recall@{k}"] for d in ("i2t", "t2i") for k in KS]))
    return out


def _weighted_median(sorted_values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Median of `sorted_values` repeated `weights[b]` times, per row b (np.median's convention)."""
    cum = np.cumsum(weights, axis=1)
    total = cum[:, -1]
    lower = np.argmax(cum >= ((total + 1) // 2)[:, None], axis=1)
    upper = np.argmax(cum >= (total // 2 + 1)[:, None], axis=1)
    return np.where(total > 0, (sorted_values[lower] + sorted_values[upper]) / 2.0, np.nan)


def resampled_summary(i2t: np.ndarray, t2i: np.ndarray, text_image: np.ndarray,
                      indices: np.ndarray, chunk: int = 100) -> dict[str, np.ndarray]:
    """`summary` on image resamples at once: `indices` [B, m] draws image indices.

    Clustered: a drawn image brings all of its captions along (its text->image queries
    are counted once per draw). The gallery stays whole; only the queries are resampled.
    """
    n_images = len(i2t)
    counts = np.zeros((indices.shape[0], n_images))
    for b0 in range(0, indices.shape[0], chunk):
        rows = indices[b0:b0 + chunk]
        offsets = (np.arange(len(rows)) * n_images)[:, None]
        counts[b0:b0 + chunk] = np.bincount((rows + offsets).ravel(),
                                            minlength=len(rows) * n_images).reshape(len(rows), -1)
    has_i2t = np.isfinite(i2t)
    order = np.argsort(t2i, kind="stable")
    out: dict[str, np.ndarray] = {}
    i2t_ok = np.where(has_i2t, i2t, np.inf)
    i2t_order = np.argsort(i2t_ok, kind="stable")
    i2t_weights = counts * has_i2t[None, :]
    for k in KS:
        hits = (i2t_ok <= k).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"i2t_recall@{k}"] = (i2t_weights @ hits) / i2t_weights.sum(axis=1)
        per_image = np.bincount(text_image, weights=(t2i <= k).astype(np.float64), minlength=n_images)
        caps = np.bincount(text_image, minlength=n_images).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"t2i_recall@{k}"] = (counts @ per_image) / (counts @ caps)
    out["i2t_median_rank"] = np.concatenate([
        _weighted_median(i2t_ok[i2t_order], i2t_weights[b0:b0 + chunk][:, i2t_order])
        for b0 in range(0, len(counts), chunk)])
    out["t2i_median_rank"] = np.concatenate([
        _weighted_median(t2i[order].astype(np.float64), counts[b0:b0 + chunk][:, text_image[order]])
        for b0 in range(0, len(counts), chunk)])
    out["mean_recall"] = np.mean([out[f"{d}_recall@{k}"] for d in ("i2t", "t2i") for k in KS], axis=0)
    return out


# Registered forms: pure functions of (text_image, sim), as the metric registry expects.
def i2t_recall_at_1(text_image: np.ndarray, sim: np.ndarray) -> float:
    return recall_at(i2t_ranks(sim, text_image), 1)


def i2t_recall_at_5(text_image: np.ndarray, sim: np.ndarray) -> float:
    return recall_at(i2t_ranks(sim, text_image), 5)


def i2t_recall_at_10(text_image: np.ndarray, sim: np.ndarray) -> float:
    return recall_at(i2t_ranks(sim, text_image), 10)


def t2i_recall_at_1(text_image: np.ndarray, sim: np.ndarray) -> float:
    return recall_at(t2i_ranks(sim, text_image).astype(np.float64), 1)


def t2i_recall_at_5(text_image: np.ndarray, sim: np.ndarray) -> float:
    return recall_at(t2i_ranks(sim, text_image).astype(np.float64), 5)


def t2i_recall_at_10(text_image: np.ndarray, sim: np.ndarray) -> float:
    return recall_at(t2i_ranks(sim, text_image).astype(np.float64), 10)


def i2t_median_rank(text_image: np.ndarray, sim: np.ndarray) -> float:
    return median_rank(i2t_ranks(sim, text_image))


def t2i_median_rank(text_image: np.ndarray, sim: np.ndarray) -> float:
    return median_rank(t2i_ranks(sim, text_image).astype(np.float64))


def mean_recall(text_image: np.ndarray, sim: np.ndarray) -> float:
    return summary(i2t_ranks(sim, text_image), t2i_ranks(sim, text_image))["mean_recall"]


I2T_R1 = register_metric(Metric("i2t_recall@1", i2t_recall_at_1))
I2T_R5 = register_metric(Metric("i2t_recall@5", i2t_recall_at_5))
I2T_R10 = register_metric(Metric("i2t_recall@10", i2t_recall_at_10))
T2I_R1 = register_metric(Metric("t2i_recall@1", t2i_recall_at_1))
T2I_R5 = register_metric(Metric("t2i_recall@5", t2i_recall_at_5))
T2I_R10 = register_metric(Metric("t2i_recall@10", t2i_recall_at_10))
I2T_MEDR = register_metric(Metric("i2t_median_rank", i2t_median_rank, higher_is_better=False))
T2I_MEDR = register_metric(Metric("t2i_median_rank", t2i_median_rank, higher_is_better=False))
MEAN_RECALL = register_metric(Metric("mean_recall", mean_recall))
