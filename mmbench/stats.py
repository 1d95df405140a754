"""Uncertainty: bootstrap confidence intervals (row or image-clustered), the pooling of
seeds, paired tests between two models, and Holm's multiple-comparison correction."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

N_BOOTSTRAP = 1000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


def _percentiles(samples: np.ndarray) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return float("nan"), float("nan")
    alpha = (1 - CONFIDENCE) / 2
    low, high = np.quantile(samples, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_indices(n: int, seed: int, n_boot: int = N_BOOTSTRAP) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


Draws = np.ndarray | list[np.ndarray]  # [B, n] row indices, or B index arrays of varying length


def cluster_codes(clusters: Any) -> np.ndarray | None:
    """Cluster codes numbered by first appearance; None when every cluster is a single row.

    Numbering by first appearance makes singleton clusters draw exactly the row bootstrap.
    """
    raw = np.asarray(clusters)
    _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    if len(first) == len(raw):
        return None
    renumber = np.empty(len(first), dtype=np.int64)
    renumber[np.argsort(first)] = np.arange(len(first))
    return renumber[inverse.reshape(-1)]


def resample(n: int, seed: int, n_boot: int = N_BOOTSTRAP, clusters: Any = None) -> Draws:
    """Bootstrap draws of row indices; with `clusters`, whole clusters are drawn.

    Rows that share a cluster (e.g. several questions about one image) are correlated, so
    resampling rows would understate the uncertainty; drawing clusters keeps them together.
    """
    codes = None if clusters is None else cluster_codes(clusters)
    if codes is None:
        return bootstrap_indices(n, seed, n_boot)
    if len(codes) != n:
        raise ValueError(f"{len(codes)} cluster ids for {n} rows")
    order = np.argsort(codes, kind="stable")  # rows grouped by cluster
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    picked = bootstrap_indices(len(sizes), seed, n_boot)
    draws = []
    for row in picked:
        lengths = sizes[row]
        offsets = np.repeat(starts[row] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        draws.append(order[offsets + np.arange(lengths.sum())])
    return draws


def evaluate_draws(draws: Draws, batch: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`batch(indices [B, m]) -> [B]` on every draw (one call for rectangular draws)."""
    if isinstance(draws, np.ndarray):
        return np.asarray(batch(draws), dtype=np.float64)
    return np.array([batch(d[None, :])[0] for d in draws], dtype=np.float64)


def bootstrap_mean(values: np.ndarray, seed: int = 0, n_boot: int = N_BOOTSTRAP,
                   clusters: Any = None) -> Estimate:
    """Percentile bootstrap CI of a mean of per-sample scores (vectorised)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    means = evaluate_draws(resample(len(values), seed, n_boot, clusters), lambda idx: values[idx].mean(axis=1))
    return Estimate(float(values.mean()), *_percentiles(means))


def bootstrap_metric(fn: Callable[[np.ndarray, np.ndarray], float], labels: np.ndarray,
                     scores: np.ndarray, seed: int = 0, n_boot: int = N_BOOTSTRAP,
                     resampled: Callable[..., np.ndarray] | None = None,
                     clusters: Any = None) -> Estimate:
    """Percentile bootstrap CI of any metric of (labels, scores), resampling rows (or clusters).

    `resampled`, when given, computes the metric on all resamples at once.
    """
    value = fn(labels, scores)
    if len(labels) == 0:
        return Estimate(value, float("nan"), float("nan"))
    draws = resample(len(labels), seed, n_boot, clusters)
    if resampled is not None:
        values = evaluate_draws(draws, lambda idx: resampled(labels, scores, idx))
    else:
        values = evaluate_draws(draws, lambda idx: np.array([fn(labels[i], scores[i]) for i in idx]))
    return Estimate(value, *_percentiles(values))


@dataclass(frozen=True)
class SeedSummary:
    mean: float
    std: float
    ci_low: float
    ci_high: float
    seeds: int


def pool_seeds(estimates: list[Estimate]) -> SeedSummary:
    """Mean over seeds with a CI that counts both seed spread and test-set sampling.

    The test set is shared across seeds, so its sampling error does not shrink with
    more seeds: the within-seed variance is averaged, not divided by the seed count.
    """
    values = np.array([e.value for e in estimates], dtype=np.float64)
    k = len(values)
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if k > 1 else 0.0
    z = 1.959963984540054
    within = [((e.ci_high - e.ci_low) / (2 * z)) ** 2 for e in estimates
              if math.isfinite(e.ci_high) and math.isfinite(e.ci_low)]
    var = (std**2) / k + (float(np.mean(within)) if within else 0.0)
    half = z * math.sqrt(var)
    return SeedSummary(mean, std, mean - half, mean + half, k)


# ---- paired tests -------------------------------------------------------------------

EXACT_BELOW = 25  # McNemar: exact binomial below this many discordant pairs, chi-square above


@dataclass(frozen=True)
class PairedTest:
    """B minus A on the same samples: delta, its bootstrap CI, and a two-sided p-value."""

    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str  # "mcnemar-exact", "mcnemar-chi2" or "paired-bootstrap"
    a_only: int = -1  # McNemar discordant counts: right only for A / only for B (-1: not used)
    b_only: int = -1


def mcnemar(a_correct: np.ndarray, b_correct: np.ndarray) -> tuple[float, str, int, int]:
    """(p, test name, #right only for A, #right only for B) for paired 0/1 correctness."""
    from scipy import stats as sps

    a = np.asarray(a_correct).astype(bool)
    b = np.asarray(b_correct).astype(bool)
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
    total = a_only + b_only
    if total == 0:
        return 1.0, "mcnemar-exact", 0, 0
    if total < EXACT_BELOW:
        # Under H0 each discordant pair goes either way with probability 1/2.
        p = min(1.0, 2.0 * float(sps.binom.cdf(min(a_only, b_only), total, 0.5)))
        return p, "mcnemar-exact", a_only, b_only
    statistic = (abs(a_only - b_only) - 1) ** 2 / total  # with continuity correction
    return float(sps.chi2.sf(statistic, 1)), "mcnemar-chi2", a_only, b_only


def paired_bootstrap(stat_a: Callable[[np.ndarray], np.ndarray], stat_b: Callable[[np.ndarray], np.ndarray],
                     n: int, seed: int = 0, n_boot: int = N_BOOTSTRAP, clusters: Any = None) -> PairedTest:
    """Resample the same rows (or clusters) for both models; `stat_x(indices [B, m]) -> [B]`.

    The p-value is the share of centred bootstrap deltas at least as far from 0 as the
    observed one (the bootstrap distribution shifted to the null of no difference).
    """
    full = np.arange(n)[None, :]
    delta = float(stat_b(full)[0] - stat_a(full)[0])
    if n == 0:
        return PairedTest(float("nan"), float("nan"), float("nan"), float("nan"), "paired-bootstrap")
    draws = resample(n, seed, n_boot, clusters)
    deltas = evaluate_draws(draws, lambda idx: stat_b(idx) - stat_a(idx))
    deltas = deltas[np.isfinite(deltas)]
    low, high = _percentiles(deltas)
    extreme = int(np.sum(np.abs(deltas - delta) >= abs(delta) - 1e-12))
    p = (1 + extreme) / (1 + len(deltas)) if math.isfinite(delta) else float("nan")
    return PairedTest(delta, low, high, min(1.0, p), "paired-bootstrap")


def holm(p_values: Any) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (same order as given; NaN stays NaN, uncounted)."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    order = finite[np.argsort(p[finite], kind="stable")]
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))  # adjusted p never decreases
        out[idx] = running
    return out
