"""Image-text retrieval metrics, when an image may have several captions.

Inputs: `sim` [n_images, n_texts] (higher = more similar) and `text_image` [n_texts], the
index of the image each caption belongs to. An image without captions stays in the
gallery as a distractor for text->image but asks no image->text query.

- image->text rank of image i: 1-based position of the FIRST of its captions in the
  ranking of all texts, so a hit at K means ANY of its captions is in the top K.
- text->image rank of caption j: 1-based position of its own image among all images.

Ties count against the model by default (`ties="pessimistic"`): a wrong item with the
same score as the right one is ranked ahead of it (a constant similarity matrix gets the
worst possible ranks, never lucky hits). With `ties="optimistic"` the right item goes
first among equals. CLIP_benchmark's top-k (`torch.topk`) breaks ties in an order torch
does not define, so its recall lies between the two and equals both when no score is
tied. Correct captions tied with each other do not push one another down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mmbench.metrics import Metric, register_metric

KS = (1, 5, 10)
TIES = ("pessimistic", "optimistic")
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


def check_ties(ties: str) -> str:
    if ties not in TIES:
        raise ValueError(f"ties must be one of {', '.join(TIES)}, got {ties!r}")
    return ties


def i2t_ranks(sim: np.ndarray, text_image: np.ndarray, ties: str = "pessimistic") -> np.ndarray:
    """[n_images] float ranks of each image's best caption; NaN for an image without captions."""
    sim, text_image = _check(sim, text_image)
    ahead = np.greater_equal if check_ties(ties) == "pessimistic" else np.greater
    ranks = np.full(sim.shape[0], np.nan)
    for start in range(0, sim.shape[0], ROW_BLOCK):
        block = sim[start:start + ROW_BLOCK]
        own = text_image[None, :] == np.arange(start, start + len(block))[:, None]
        best = np.where(own, block, -np.inf).max(axis=1, initial=-np.inf)
        wrong_ahead = (~own & ahead(block, best[:, None])).sum(axis=1)
        has = own.any(axis=1)
        ranks[start:start + len(block)][has] = 1.0 + wrong_ahead[has]
    return ranks


def t2i_ranks(sim: np.ndarray, text_image: np.ndarray, ties: str = "pessimistic") -> np.ndarray:
    """[n_texts] int ranks of each caption's own image among all images."""
    sim, text_image = _check(sim, text_image)
    own = sim[text_image, np.arange(len(text_image))]
    if check_ties(ties) == "optimistic":  # 1 + the images scoring strictly higher
        return 1 + (sim > own[None, :]).sum(axis=0).astype(np.int64)
    # Counts the own image once (own >= own) plus every other image scoring at least as high.
    return (sim >= own[None, :]).sum(axis=0).astype(np.int64)


def rank_rows(t2i: np.ndarray, text_image: np.ndarray, n_images: int) -> np.ndarray:
    """[n_images, max captions] text->image ranks of each image's captions, NaN-padded."""
    counts = np.bincount(text_image, minlength=n_images)
    out = np.full((n_images, max(int(counts.max(initial=0)), 1)), np.nan)
    order = np.argsort(text_image, kind="stable")
    slot = np.arange(len(order)) - np.repeat(np.cumsum(counts) - counts, counts)
    out[text_image[order], slot] = t2i[order]
    return out


# Every metric below reads one row per image: `i2t` [n] (NaN: no captions) and `t2i`
# [n, m] (that image's caption ranks, NaN-padded). Resampling rows therefore resamples
# images with all their captions (a clustered bootstrap) while the ranks, taken against
# the whole gallery, stay fixed.

def _recall(ranks: np.ndarray, k: int) -> float:
    finite = np.isfinite(ranks)
    return float((ranks[finite] <= k).sum() / finite.sum()) if finite.any() else float("nan")


def _median(ranks: np.ndarray) -> float:
    finite = ranks[np.isfinite(ranks)]
    return float(np.median(finite)) if finite.size else float("nan")


def _draw_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """[B, n] how often each row was drawn in each resample."""
    offsets = (np.arange(len(indices)) * n)[:, None]
    return np.bincount((indices + offsets).ravel(), minlength=len(indices) * n).reshape(len(indices), n)


def _weighted_median(sorted_values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Median of `sorted_values` repeated `weights[b]` times, per row b (np.median's convention)."""
    cum = np.cumsum(weights, axis=1)
    total = cum[:, -1] if cum.shape[1] else np.zeros(len(cum))
    if not cum.shape[1]:
        return np.full(len(cum), np.nan)
    lower = np.argmax(cum >= ((total + 1) // 2)[:, None], axis=1)
    upper = np.argmax(cum >= (total // 2 + 1)[:, None], axis=1)
    return np.where(total > 0, (sorted_values[lower] + sorted_values[upper]) / 2.0, np.nan)


def _recall_resampled(ranks: np.ndarray, k: int, indices: np.ndarray) -> np.ndarray:
    ranks = ranks.reshape(len(ranks), -1)
    hits = (np.nan_to_num(ranks, nan=np.inf) <= k).sum(axis=1).astype(np.float64)
    queries = np.isfinite(ranks).sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits[indices].sum(axis=1) / queries[indices].sum(axis=1)


def _median_resampled(ranks: np.ndarray, indices: np.ndarray, chunk: int = 100) -> np.ndarray:
    ranks = ranks.reshape(len(ranks), -1)
    rows, cols = np.nonzero(np.isfinite(ranks))
    values = ranks[rows, cols]
    order = np.argsort(values, kind="stable")
    parts = [_weighted_median(values[order], _draw_counts(indices[b:b + chunk], len(ranks))[:, rows[order]])
             for b in range(0, len(indices), chunk)]
    return np.concatenate(parts) if parts else np.zeros(0)


@dataclass(frozen=True)
class _Recall:
    """Recall@k in one direction; a picklable callable rather than a closure."""

    direction: str
    k: int

    def __call__(self, i2t: np.ndarray, t2i: np.ndarray) -> float:
        return _recall(i2t if self.direction == "i2t" else t2i, self.k)

    def resampled(self, i2t: np.ndarray, t2i: np.ndarray, indices: np.ndarray) -> np.ndarray:
        return _recall_resampled(i2t if self.direction == "i2t" else t2i, self.k, indices)


@dataclass(frozen=True)
class _MedianRank:
    direction: str

    def __call__(self, i2t: np.ndarray, t2i: np.ndarray) -> float:
        return _median(i2t if self.direction == "i2t" else t2i)

    def resampled(self, i2t: np.ndarray, t2i: np.ndarray, indices: np.ndarray) -> np.ndarray:
        return _median_resampled(i2t if self.direction == "i2t" else t2i, indices)


def _recall_metric(direction: str, k: int) -> Metric:
    fn = _Recall(direction, k)
    return register_metric(Metric(f"{direction}_recall@{k}", fn, resampled=fn.resampled))


def _median_metric(direction: str) -> Metric:
    fn = _MedianRank(direction)
    return register_metric(Metric(f"{direction}_median_rank", fn, higher_is_better=False, resampled=fn.resampled))


def mean_recall(i2t: np.ndarray, t2i: np.ndarray) -> float:
    """The mean of the six recalls (R@1/5/10 both ways; "RSUM" / 6)."""
    return float(np.mean([_recall(r, k) for r in (i2t, t2i) for k in KS]))


def mean_recall_resampled(i2t: np.ndarray, t2i: np.ndarray, indices: np.ndarray) -> np.ndarray:
    return np.mean([_recall_resampled(r, k, indices) for r in (i2t, t2i) for k in KS], axis=0)


def summary(i2t: np.ndarray, t2i: np.ndarray) -> dict[str, float]:
    """Every retrieval metric from the per-image rows."""
    return {name: float(m.fn(i2t, t2i)) for name, m in ALL.items()}


I2T_R1, I2T_R5, I2T_R10 = (_recall_metric("i2t", k) for k in KS)
T2I_R1, T2I_R5, T2I_R10 = (_recall_metric("t2i", k) for k in KS)
I2T_MEDR, T2I_MEDR = _median_metric("i2t"), _median_metric("t2i")
MEAN_RECALL = register_metric(Metric("mean_recall", mean_recall, resampled=mean_recall_resampled))
ALL = {m.name: m for m in (I2T_R1, I2T_R5, I2T_R10, T2I_R1, T2I_R5, T2I_R10, I2T_MEDR, T2I_MEDR, MEAN_RECALL)}
