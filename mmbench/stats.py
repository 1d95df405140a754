"""Uncertainty: bootstrap confidence intervals and the pooling of seeds."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

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


def bootstrap_mean(values: np.ndarray, seed: int = 0, n_boot: int = N_BOOTSTRAP) -> Estimate:
    """Percentile bootstrap CI of a mean of per-sample scores (vectorised)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"))
    means = values[bootstrap_indices(len(values), seed, n_boot)].mean(axis=1)
    return Estimate(float(values.mean()), *_percentiles(means))


def bootstrap_metric(fn: Callable[[np.ndarray, np.ndarray], float], labels: np.ndarray,
                     scores: np.ndarray, seed: int = 0, n_boot: int = N_BOOTSTRAP,
                     resampled: Callable[..., np.ndarray] | None = None) -> Estimate:
    """Percentile bootstrap CI of any metric of (labels, scores), resampling rows.

    `resampled`, when given, computes the metric on all resamples at once.
    """
    value = fn(labels, scores)
    if len(labels) == 0:
        return Estimate(value, float("nan"), float("nan"))
    indices = bootstrap_indices(len(labels), seed, n_boot)
    if resampled is not None:
        draws = np.asarray(resampled(labels, scores, indices), dtype=np.float64)
    else:
        draws = np.array([fn(labels[idx], scores[idx]) for idx in indices])
    return Estimate(value, *_percentiles(draws))


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
