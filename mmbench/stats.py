"""Uncertainty: bootstrap confidence intervals (row or image-clustered), the pooling of
seeds (Student's t on the seed spread plus the test-set error), paired tests between two
models with the same seed treatment, and Holm's multiple-comparison correction."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
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


# Memory of the bootstrap, whatever the split's size: draws are held whole up to DRAW_BYTES
# (int32 [resamples, rows]: 16k rows at 1,000 resamples) and made again block by block
# beyond it; a metric sees at most BLOCK_CELLS resampled rows per call. Holding 1,000 x 50k
# draws and a metric's float64 temporaries of the same shape took a 100k-record scale run's
# evaluation past 1.2 GB.
DRAW_BYTES = 64 << 20
BLOCK_CELLS = 4 << 20
EXPAND_CELLS = 1 << 20  # rows of cluster draws expanded at once (int64 temporaries of 8 MB)


def _index_dtype(n: int) -> type:
    return np.int32 if n < 2**31 else np.int64


def bootstrap_indices(n: int, seed: int, n_boot: int = N_BOOTSTRAP) -> np.ndarray:
    """[n_boot, n] row indices. (numpy's Generator gives the same values in any dtype wide
    enough and over consecutive calls, so `BlockDraws` can make them again in blocks.)"""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n), dtype=_index_dtype(n))


@dataclass(frozen=True)
class BlockDraws:
    """Draws too large to hold, made again from their seed block by block (the same values
    as `_draw` gives whole), each block a few resamples: rows, or whole clusters."""

    n: int
    seed: int
    n_boot: int
    codes: np.ndarray | None = None  # cluster per row, or None for rows

    def __len__(self) -> int:
        return self.n_boot

    def blocks(self, cells: int = BLOCK_CELLS) -> Iterator[Draws]:
        rng = np.random.default_rng(self.seed)
        grouped = None if self.codes is None else _clusters(self.codes)
        units = self.n if grouped is None else len(grouped[1])
        per = max(1, cells // max(1, self.n))
        for start in range(0, self.n_boot, per):
            picked = rng.integers(0, units, size=(min(per, self.n_boot - start), units), dtype=_index_dtype(units))
            yield picked if grouped is None else _expand(picked, *grouped)


@dataclass(frozen=True, eq=False)
class RaggedDraws:
    """Resamples of clusters, whose lengths differ: one [k, length] array of rows per length,
    `which` naming the resamples it holds. A metric is then called once per length on an
    array made once (about 150 calls for 1,000 resamples of 1,000 records in 700 clusters),
    however many metrics share the draws."""

    count: int
    groups: tuple[tuple[np.ndarray, np.ndarray], ...]  # (which resamples, their rows [k, length])

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[np.ndarray]:
        """The resamples' rows, in resample order."""
        where: dict[int, tuple[int, int]] = {}
        for group, (which, _) in enumerate(self.groups):
            where.update((int(b), (group, k)) for k, b in enumerate(which))
        return (self.groups[g][1][k] for g, k in (where[b] for b in range(self.count)))


Draws = np.ndarray | RaggedDraws  # [B, n] row indices, or clusters' rows of varying length
AnyDraws = Draws | BlockDraws


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


_DRAWS: dict[tuple[Any, ...], AnyDraws] = {}  # the last few resamples made (read-only arrays)
_DRAWS_KEPT = 8


def resample(n: int, seed: int, n_boot: int = N_BOOTSTRAP, clusters: Any = None) -> AnyDraws:
    """Bootstrap draws of row indices; with `clusters`, whole clusters are drawn.

    Rows that share a cluster (e.g. several questions about one image) are correlated, so
    resampling rows would understate the uncertainty; drawing clusters keeps them together.
    The same arguments give the same draws, so the last few are kept and handed out again
    (read-only): a leaderboard scores many models and metrics on the same rows. Draws larger
    than DRAW_BYTES come as `BlockDraws`, made again each time they are evaluated.
    """
    codes = None if clusters is None else cluster_codes(clusters)
    key = (n, seed, n_boot, None if codes is None else hashlib.sha256(codes.tobytes()).hexdigest())
    if key not in _DRAWS:
        if len(_DRAWS) >= _DRAWS_KEPT:
            _DRAWS.pop(next(iter(_DRAWS)))
        if n * n_boot * np.dtype(_index_dtype(n)).itemsize > DRAW_BYTES:
            _DRAWS[key] = BlockDraws(n, seed, n_boot, codes)
        else:
            _DRAWS[key] = _frozen(_draw(n, seed, n_boot, codes))
    return _DRAWS[key]


def _frozen(draws: Draws) -> Draws:
    for array in [draws] if isinstance(draws, np.ndarray) else [a for group in draws.groups for a in group]:
        array.setflags(write=False)
    return draws


def _clusters(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows grouped by cluster, cluster sizes, where each cluster's rows start)."""
    order: np.ndarray = np.argsort(codes, kind="stable").astype(_index_dtype(len(codes)))
    sizes = np.bincount(codes)
    return order, sizes, np.concatenate([[0], np.cumsum(sizes)[:-1]])


def _expand(picked: np.ndarray, order: np.ndarray, sizes: np.ndarray, starts: np.ndarray) -> RaggedDraws:
    """Each resample of clusters as the rows of those clusters, grouped by length.

    The resamples of one length are expanded together, up to EXPAND_CELLS rows at a time
    (each resample its clusters' rows in the order drawn): a loop per resample cost 40 ms
    of a 800-record evaluation's 2 s."""
    lengths = sizes[picked].sum(axis=1)
    distinct, group_of = np.unique(lengths, return_inverse=True)
    groups = []
    for group, length in enumerate(int(x) for x in distinct):
        which = np.flatnonzero(group_of == group)
        rows = np.empty((len(which), length), dtype=order.dtype)
        per = max(1, EXPAND_CELLS // max(1, length))
        for s in range(0, len(which), per):
            chosen = picked[which[s:s + per]].ravel()
            counts = sizes[chosen]
            first = np.cumsum(counts) - counts  # where each drawn cluster's rows begin
            flat = np.repeat(starts[chosen] - first, counts) + np.arange(int(counts.sum()))
            rows[s:s + per] = order[flat].reshape(-1, length)
        groups.append((which, rows))
    return RaggedDraws(len(picked), tuple(groups))


def _draw(n: int, seed: int, n_boot: int, codes: np.ndarray | None) -> Draws:
    if codes is None:
        return bootstrap_indices(n, seed, n_boot)
    if len(codes) != n:
        raise ValueError(f"{len(codes)} cluster ids for {n} rows")
    order, sizes, starts = _clusters(codes)
    return _expand(bootstrap_indices(len(sizes), seed, n_boot), order, sizes, starts)


def evaluate_draws(draws: AnyDraws, batch: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`batch(indices [B, m]) -> [B]` on every draw, a block of resamples per call (at most
    BLOCK_CELLS indices: a metric's temporaries stay bounded however many rows there are)."""
    if isinstance(draws, BlockDraws):
        return np.concatenate([evaluate_draws(block, batch) for block in draws.blocks()])
    if isinstance(draws, np.ndarray):
        per = max(1, BLOCK_CELLS // max(1, draws.shape[1]))
        return np.concatenate([np.asarray(batch(draws[s:s + per]), dtype=np.float64)
                               for s in range(0, len(draws), per)]) if len(draws) else np.zeros(0)
    out = np.empty(len(draws), dtype=np.float64)
    for which, rows in draws.groups:
        per = max(1, BLOCK_CELLS // max(1, rows.shape[1]))
        for s in range(0, len(which), per):
            out[which[s:s + per]] = batch(rows[s:s + per])
    return out


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


# ---- seeds --------------------------------------------------------------------------
#
# The estimand of a pooled cell is the model family's expected score: over training seeds
# and over test sets drawn from the same population. With k seeds scored on ONE shared test
# set, the mean of the k per-seed values is off by two independent errors:
#   - the seed error, the mean of k seed effects: variance sigma_seed^2 / k, estimated by
#     s^2 / k (s the standard deviation of the k values) on k - 1 degrees of freedom;
#   - the test-set error, common to every seed (they share the items), so it does not
#     average out: its variance is not divided by k. Each per-seed bootstrap interval gives
#     that seed's test-set variance ((ci_high - ci_low) / 2z)^2; their mean is used. (The
#     seed-specific part of that noise is in s^2 too, so this counts it twice: conservative.)
# The half-width takes each part at its own quantile, Student's t with k - 1 degrees of
# freedom for the seed part (its variance is estimated from k values) and the normal one for
# the test-set part (estimated from n records), and adds the two in quadrature:
#   half = sqrt((t_{k-1} * s / sqrt(k))^2 + (z * SE_test)^2).
# With one seed there is no seed part (seed effect unknown; `seeds` says so). The same rule
# (one t term per model with several seeds) makes the paired tests: `with_seed_spread`.
# tests/test_stats_coverage.py measures its coverage by simulation: 94.6% or more for 2, 3
# and 5 seeds with normal seed effects up to a seed SD of accuracy of 0.1 (z = 1.96, the
# rule before: 74-77% with two seeds; Welch-Satterthwaite degrees of freedom on the summed
# variance: 86-87%), short of it for very wide skewed effects (~90-92%) and far short when
# seeds fall in two modes (plateau or learned), which no interval from so few seeds can fix.


def quantile(confidence: float = CONFIDENCE, df: float = math.inf) -> float:
    """Two-sided quantile: Student's t with `df` degrees of freedom, the normal one for inf."""
    return _upper(1 - confidence, df)


def _upper(alpha: float, df: float) -> float:
    """The upper alpha/2 point: quantile(1 - alpha, df), precise for tiny alpha too."""
    from scipy import stats as sps

    if alpha >= 1:
        return 0.0
    return float(sps.norm.isf(alpha / 2)) if math.isinf(df) else float(sps.t.isf(alpha / 2, df))


SeedTerm = tuple[Any, int]  # (variance of a mean estimated from seeds, its degrees of freedom)


def half_width(seed_terms: list[SeedTerm], test_var: Any, confidence: float = CONFIDENCE) -> Any:
    """sqrt(sum over seed terms of (t_df * SE)^2 + (z * SE_test)^2); broadcasts over arrays."""
    return _half(seed_terms, test_var, 1 - confidence)


def _half(seed_terms: list[SeedTerm], test_var: Any, alpha: float) -> Any:
    total = _upper(alpha, math.inf) ** 2 * np.asarray(test_var, dtype=np.float64)
    for var, df in seed_terms:
        total = total + _upper(alpha, df) ** 2 * np.asarray(var, dtype=np.float64)
    return np.sqrt(total)


def seed_term(values: Any) -> list[SeedTerm]:
    """[(s^2 / k, k - 1)] from k >= 2 seed values [..., k]; [] for one seed."""
    values = np.asarray(values, dtype=np.float64)
    k = values.shape[-1]
    return [(values.var(axis=-1, ddof=1) / k, k - 1)] if k > 1 else []


def pool_arrays(values: Any, test_var: Any,
                confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The pooled interval, vectorised: per-seed values and test-set variances [..., k] (NaN:
    not known, left out) -> (mean, seed standard deviation (NaN with one seed), test-set
    standard error, half-width), each [...]."""
    values = np.asarray(values, dtype=np.float64)
    test_var = np.asarray(test_var, dtype=np.float64)
    k = values.shape[-1]
    mean = values.mean(axis=-1)
    std = values.std(axis=-1, ddof=1) if k > 1 else np.full(mean.shape, np.nan)
    known = np.isfinite(test_var)
    count = known.sum(axis=-1)
    within = np.where(count > 0, np.where(known, test_var, 0.0).sum(axis=-1) / np.maximum(count, 1), 0.0)
    return mean, std, np.sqrt(within), half_width(seed_term(values), within, confidence)


def spread_dominates(std: float, test_se: float, seeds: int) -> bool | None:
    """Seeds differ more than test-set sampling explains: their standard deviation is larger
    than one seed's test-set standard error. None with one seed (no spread measured)."""
    if seeds < 2 or not (math.isfinite(std) and math.isfinite(test_se)):
        return None
    return std > test_se


@dataclass(frozen=True)
class SeedSummary:
    mean: float
    std: float  # standard deviation of the per-seed values; NaN with one seed
    ci_low: float
    ci_high: float
    seeds: int
    test_se: float = float("nan")  # test-set standard error of one seed's value (bootstrap)

    @property
    def seed_spread_dominates(self) -> bool | None:
        return spread_dominates(self.std, self.test_se, self.seeds)


def _se(estimate: Estimate) -> float:
    """A per-seed bootstrap interval as a standard error (NaN when it has none)."""
    if not (math.isfinite(estimate.ci_high) and math.isfinite(estimate.ci_low)):
        return float("nan")
    return (estimate.ci_high - estimate.ci_low) / (2 * quantile())


def pool_seeds(estimates: list[Estimate], confidence: float = CONFIDENCE) -> SeedSummary:
    """Mean over seeds with an interval for the expected score over seeds and test sets:
    Student's t on the seed spread plus the (not shrinking) test-set error; see above."""
    values = np.array([e.value for e in estimates], dtype=np.float64)
    test_var = np.array([_se(e) ** 2 for e in estimates], dtype=np.float64)
    mean, std, test_se, half = (float(x) for x in pool_arrays(values, test_var, confidence))
    return SeedSummary(mean, std, mean - half, mean + half, len(values), test_se)


# ---- paired tests -------------------------------------------------------------------

EXACT_BELOW = 25  # McNemar: exact binomial below this many discordant pairs, chi-square above


@dataclass(frozen=True)
class PairedTest:
    """B minus A on the same samples: delta, its bootstrap CI, and a two-sided p-value."""

    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str  # "mcnemar-exact", "mcnemar-chi2", "paired-bootstrap" or SEED_TEST
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
    return bootstrap_test(delta, evaluate_draws(draws, lambda idx: stat_b(idx) - stat_a(idx)))


def bootstrap_test(delta: float, deltas: np.ndarray) -> PairedTest:
    """The paired bootstrap's interval and p-value from the observed delta and the deltas of
    the resamples (computed by `paired_bootstrap`, or from statistics shared by many pairs)."""
    deltas = deltas[np.isfinite(deltas)]
    low, high = _percentiles(deltas)
    extreme = int(np.sum(np.abs(deltas - delta) >= abs(delta) - 1e-12))
    p = (1 + extreme) / (1 + len(deltas)) if math.isfinite(delta) else float("nan")
    return PairedTest(delta, low, high, min(1.0, p), "paired-bootstrap")


SEED_TEST = "paired-bootstrap+seed-t"  # PairedTest.test of a pair where a model has several seeds
P_FLOOR = 1e-100  # interval_p_value: a p-value below this reads 0


def interval_p_value(delta: float, seed_terms: list[SeedTerm], test_var: float) -> float:
    """The two-sided p-value that inverts the interval: the alpha at which
    delta +- half_width(1 - alpha) just reaches 0 (the interval at level 1 - alpha excludes
    0 exactly when p < alpha). With no seed terms it is the normal test on the SE."""
    from scipy.optimize import brentq

    d = abs(delta)
    if not math.isfinite(d):
        return float("nan")
    if d == 0:
        return 1.0

    def gap(log_alpha: float) -> float:
        return float(_half(seed_terms, test_var, math.exp(log_alpha))) - d

    low = math.log(P_FLOOR)
    reach = gap(low)
    if not math.isfinite(reach):
        return float("nan")
    if reach <= 0:  # no variance at all, or beyond the floor
        return 0.0
    return min(1.0, math.exp(brentq(gap, low, 0.0, xtol=1e-10)))


def with_seed_spread(test: PairedTest, seeds_a: Any, seeds_b: Any, confidence: float = CONFIDENCE) -> PairedTest:
    """A paired bootstrap of seed-averaged scores (`test`; its interval gives the test-set
    error of the difference) joined by the between-seed variance of each model with several
    seeds (`seeds_x`: its per-seed values on the paired rows), as `pool_seeds` does for one
    model: a t term with k - 1 degrees of freedom per model (seeds of two models are not
    paired, so the variances add), the test-set term at the normal quantile, in quadrature."""
    if not (math.isfinite(test.ci_high) and math.isfinite(test.ci_low)):
        return replace(test, test=SEED_TEST)
    test_var = ((test.ci_high - test.ci_low) / (2 * quantile())) ** 2
    terms = seed_term(seeds_a) + seed_term(seeds_b)
    half = float(half_width(terms, test_var, confidence))
    p = interval_p_value(test.delta, terms, test_var)
    return PairedTest(test.delta, test.delta - half, test.delta + half, p, SEED_TEST)


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
