"""Per-sample metric inputs read back from stored predictions, aligned by record id, and
the paired tests between models built on them (used by the leaderboard, compare, rescore).

Everything goes through the Metric registry: a metric with `per_sample` is accuracy-type
(McNemar when both models have one seed and the correctness is 0/1 on independent rows),
any other metric, and any pair where a model has several seeds, gets the paired bootstrap.
Several seeds of one model are averaged: the per-sample score is averaged over seeds, and a
non-per-sample metric is averaged over seeds per resample. The bootstrap over records then
measures only the test-set error of the difference; the seeds' own spread joins it as in
`stats.pool_seeds` (a Student t term with k - 1 degrees of freedom per model with k >= 2
seeds: `stats.with_seed_spread`), so the tests, ranks and ties agree with the intervals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mmbench.metrics import Metric
from mmbench.stats import (
    N_BOOTSTRAP,
    PairedTest,
    bootstrap_test,
    cluster_codes,
    evaluate_draws,
    holm,
    mcnemar,
    paired_bootstrap,
    resample,
    with_seed_spread,
)

Inputs = tuple[np.ndarray, np.ndarray]  # (targets, scores), the two arguments of Metric.fn
ALPHA = 0.05


class PredictionsError(ValueError):
    """Stored predictions cannot be turned into metric inputs."""


def _column(table: Any, name: str) -> np.ndarray:
    import pyarrow as pa

    col = table.column(name).combine_chunks()
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        lengths = np.asarray(col.value_lengths().fill_null(0))
        if len(lengths) and (lengths == lengths[0]).all() and col.null_count == 0:
            return np.asarray(col.flatten().to_numpy(zero_copy_only=False)).reshape(len(col), -1)
        return np.asarray(col.to_pylist(), dtype=object)
    return np.asarray(col.to_numpy(zero_copy_only=False))


def metric_inputs(task: str, table: Any) -> Inputs:
    """A task's metric inputs from its predictions table.

    A task class may define `metric_inputs(table) -> (targets, scores)`; without one the
    classification layout is read: `label` and `probs` (or `scores`) columns.
    """
    from mmbench.tasks import TASKS

    hook = getattr(TASKS.get(task), "metric_inputs", None) if task in TASKS else None
    if hook is not None:
        targets, scores = hook(table)
        return targets, scores
    columns = set(table.column_names)
    score_column = "probs" if "probs" in columns else "scores"
    if {"label", score_column} <= columns:
        return _column(table, "label"), _column(table, score_column).astype(np.float64)
    raise PredictionsError(f"task {task!r} defines no metric_inputs(table) and its predictions have no "
                           f"label + probs/scores columns (columns: {', '.join(table.column_names)})")


@dataclass
class Runs:
    """One model's runs (one per seed) on one dataset x task, rows aligned to shared ids."""

    seeds: list[int]
    inputs: list[Inputs]
    # metric name -> per-seed values on these rows: a model meets every other in `pairwise`
    seed_cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class Aligned:
    ids: list[str]
    runs: dict[str, Runs]
    clusters: np.ndarray | None  # bootstrap cluster per aligned row, None when rows are independent


def align(task: str, tables: dict[str, list[tuple[int, Any]]]) -> Aligned:
    """Keep the ids every table has (in the first table's order) and take those rows."""
    all_tables = [t for runs in tables.values() for _, t in runs]
    if not all_tables:
        return Aligned([], {}, None)
    shared = set(all_tables[0].column("id").to_pylist())
    for table in all_tables[1:]:
        shared &= set(table.column("id").to_pylist())
    ids = [i for i in all_tables[0].column("id").to_pylist() if i in shared]
    out: dict[str, Runs] = {}
    clusters = None
    for name, runs in tables.items():
        aligned = Runs([], [])
        for seed, table in sorted(runs, key=lambda st: st[0]):
            pos = {v: k for k, v in enumerate(table.column("id").to_pylist())}
            take = np.array([pos[i] for i in ids], dtype=np.int64)
            targets, scores = metric_inputs(task, table)
            aligned.seeds.append(seed)
            aligned.inputs.append((targets[take], scores[take]))
            if clusters is None and "cluster" in table.column_names:
                clusters = np.asarray(table.column("cluster").to_pylist(), dtype=object)[take]
        out[name] = aligned
    if clusters is not None and cluster_codes(clusters) is None:
        clusters = None  # every row its own cluster: the plain row bootstrap
    return Aligned(ids, out, clusters)


def per_sample(metric: Metric, runs: Runs) -> np.ndarray:
    """[seeds, n] per-sample scores of an accuracy-type metric."""
    if metric.per_sample is None:
        raise ValueError(f"metric {metric.name} has no per-sample form")
    return np.stack([np.asarray(metric.per_sample(t, s), dtype=np.float64) for t, s in runs.inputs])


def scorer(metric: Metric, runs: Runs) -> Callable[[np.ndarray], np.ndarray]:
    """indices [B, m] -> [B] seed-averaged metric values on those rows."""
    if metric.per_sample is not None:
        scores = per_sample(metric, runs).mean(axis=0)
        return lambda idx: scores[idx].mean(axis=1)
    resampled = metric.resampled
    if resampled is not None:
        return lambda idx: np.mean([resampled(t, s, idx) for t, s in runs.inputs], axis=0)
    return lambda idx: np.mean([[metric.fn(t[i], s[i]) for i in idx] for t, s in runs.inputs], axis=0)


def value(metric: Metric, runs: Runs) -> float:
    n = len(runs.inputs[0][0]) if runs.inputs else 0
    return float(scorer(metric, runs)(np.arange(n)[None, :])[0]) if n else float("nan")


def _binary(values: np.ndarray) -> bool:
    return bool(np.isin(values, (0.0, 1.0)).all())


def seed_values(metric: Metric, runs: Runs) -> np.ndarray:
    """[seeds] the metric of each seed on the aligned rows."""
    if metric.name not in runs.seed_cache:
        if metric.per_sample is not None:
            runs.seed_cache[metric.name] = per_sample(metric, runs).mean(axis=1)
        else:
            runs.seed_cache[metric.name] = np.array([metric.fn(t, s) for t, s in runs.inputs], dtype=np.float64)
    return runs.seed_cache[metric.name]


def paired_test(metric: Metric, a: Runs, b: Runs, *, clusters: np.ndarray | None = None,
                seed: int = 0, n_boot: int = N_BOOTSTRAP, boot: PairedTest | None = None) -> PairedTest:
    """B minus A. One seed each: McNemar for 0/1 per-sample correctness of independent rows,
    otherwise the paired bootstrap (which also resamples whole image clusters when given).
    A model with several seeds: the paired bootstrap of the seed-averaged scores with the
    between-seed variance added (`with_seed_spread`)."""
    n = len(a.inputs[0][0]) if a.inputs else 0
    if boot is None:  # `boot`: the same bootstrap, computed beforehand (see `pairwise`)
        boot = paired_bootstrap(scorer(metric, a), scorer(metric, b), n, seed, n_boot, clusters)
    if not n:
        return boot
    if len(a.inputs) > 1 or len(b.inputs) > 1:
        return with_seed_spread(boot, seed_values(metric, a), seed_values(metric, b))
    if metric.per_sample is not None and clusters is None:
        score_a, score_b = per_sample(metric, a)[0], per_sample(metric, b)[0]
        if _binary(score_a) and _binary(score_b):
            p, name, a_only, b_only = mcnemar(score_a, score_b)
            return replace(boot, p_value=p, test=name, a_only=a_only, b_only=b_only)
    return boot


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    test: PairedTest
    p_holm: float


def pairwise(metric: Metric, aligned: Aligned, *, seed: int = 0, n_boot: int = N_BOOTSTRAP) -> list[Pair]:
    """Every pair of models, Holm-corrected over all the pairs."""
    names = sorted(aligned.runs)
    n = len(aligned.ids)
    # Every pair resamples the same rows: each model's statistic is computed once on the
    # shared draws, and a pair's bootstrap is the difference (the same numbers as resampling
    # pair by pair, at a fraction of the cost).
    boots: dict[tuple[str, str], PairedTest] = {}
    if n:
        draws = resample(n, seed, n_boot, aligned.clusters)
        full = np.arange(n)[None, :]
        stats = {m: scorer(metric, aligned.runs[m]) for m in names}
        observed = {m: stats[m](full)[0] for m in names}
        resampled = {m: evaluate_draws(draws, stats[m]) for m in names}
        boots = {(a, b): bootstrap_test(float(observed[b] - observed[a]), resampled[b] - resampled[a])
                 for i, a in enumerate(names) for b in names[i + 1:]}
    tests = [(a, b, paired_test(metric, aligned.runs[a], aligned.runs[b], clusters=aligned.clusters,
                                seed=seed, n_boot=n_boot, boot=boots.get((a, b))))
             for i, a in enumerate(names) for b in names[i + 1:]]
    adjusted = holm([t.p_value for _, _, t in tests])
    return [Pair(a, b, t, float(p)) for (a, b, t), p in zip(tests, adjusted, strict=True)]


def _winner(pair: Pair, higher_is_better: bool, alpha: float) -> str | None:
    if not pair.p_holm < alpha or not math.isfinite(pair.test.delta) or pair.test.delta == 0:
        return None
    return pair.b if (pair.test.delta > 0) == higher_is_better else pair.a


def rank_intervals(names: list[str], pairs: list[Pair], higher_is_better: bool,
                   alpha: float = ALPHA) -> dict[str, tuple[int, int]]:
    """[1 + #models significantly better, #models - #models significantly worse]."""
    better = dict.fromkeys(names, 0)
    worse = dict.fromkeys(names, 0)
    for pair in pairs:
        winner = _winner(pair, higher_is_better, alpha)
        if winner is not None:
            loser = pair.a if winner == pair.b else pair.b
            better[loser] += 1
            worse[winner] += 1
    return {m: (1 + better[m], len(names) - worse[m]) for m in names}


def ties_with(best: str, pairs: list[Pair], alpha: float = ALPHA) -> set[str]:
    """`best` and every model not significantly different from it."""
    tied = {best}
    for pair in pairs:
        if best in (pair.a, pair.b) and not pair.p_holm < alpha:
            tied.add(pair.b if pair.a == best else pair.a)
    return tied
