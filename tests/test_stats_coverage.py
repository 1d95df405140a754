"""Coverage of the seed-pooled 95% interval, and the level of the seed-aware paired test,
measured by simulation.

The estimand is the model family's expected accuracy over training seeds AND test sets. Each
repetition draws k seed models and ONE test set of N = 500 records that every seed is scored
on: record j has a latent difficulty u_j shared by all seeds, so the seeds' errors are
correlated through the items (test-set noise common to all seeds, which does not average out
over seeds) and each seed adds its own noise:

    seed i correct on record j  <=>  b_i + sqrt(G) * u_j + sqrt(1 - G) * w_ij > 0,

u, w standard normal, so seed i's expected accuracy over test sets is Phi(b_i). Seed effects:
  accuracy  normal on the accuracy scale: Phi(b_i) = MU + spread * Z (clipped to (0, 1));
  probit    normal on the probit scale: b_i = A0 + spread * Z (skewed by the ceiling when
            wide: spread 0.4 is a seed SD of accuracy ~0.1, 0.8 about 0.2);
  bimodal   like `shapes`: a third of the seeds on a plateau at 0.70, the rest learn (0.90).
One seed's test-set SE is ~0.02 here.

Per seed, the test-set variance fed to the pooling is the bootstrap's for a mean of 0/1
scores, p(1 - p) / N (`test_the_bootstrap_path_gives_the_same_intervals` checks it against
`bootstrap_mean` itself); the interval is `stats.pool_arrays`, the code behind `pool_seeds`.

Coverage measured (4,000 repetitions; the tests use the same draws):
                     new rule (t_{k-1})   old rule (z = 1.96)   Welch-Satterthwaite df
  seed effects       k=2   k=3   k=5      k=2   k=3   k=5       k=2   k=3   k=5
  accuracy 0         .998  .999  .999     .992  .996  .998      .993  .996  .998
  accuracy 0.05      .972  .976  .983     .856  .928  .963      .898  .946  .971
  accuracy 0.10      .958  .960  .968     .765  .851  .914      .867  .923  .951
  accuracy 0.20      .938  .944  .950     .721  .817  .885      .879  .924  .944
  probit 0           .998  .998  .998     .991  .994  .998      .992  .995  .998
  probit 0.1         .989  .991  .994     .932  .962  .987      .949  .971  .989
  probit 0.2         .973  .971  .977     .833  .907  .952      .893  .939  .962
  probit 0.4         .947  .948  .946     .737  .836  .887      .865  .911  .929
  probit 0.8         .924  .899  .917     .667  .775  .859      .852  .878  .911
  bimodal            .735  .686  .865     .438  .674  .837      .465  .675  .863
Asserted (>= 0.93): ASSERTED below. Above nominal where test-set noise dominates: the
seed-specific part of the test-set noise is in both s^2 and the per-seed bootstrap variances
(see mmbench/stats.py). BELOW nominal: very wide skewed seed effects (probit 0.8: a t
interval from 2-5 values of a skewed distribution) and, far below, the bimodal case, which no
interval from k values can fix: with k = 3 the chance that every seed lands in the same mode
is 1/27 + 8/27 = 1/3, and then the seeds agree and say nothing about the other mode. The
leaderboard's seed-spread mark (†) and `seeds` column are what warn of it; more seeds (or a
stable protocol) are the cure.

Paired test under the null (two models of equal mean on one shared test set), rejections at
alpha = 0.05, seed-aware (`with_seed_spread`'s interval) vs the paired bootstrap alone:
  k=2 accuracy 0.08 vs k=5 accuracy 0.01   0.038 vs 0.635
  k=3 accuracy 0.05 vs k=3 accuracy 0.05   0.009 vs 0.531
  k=2 probit 0.4 vs k=2 probit 0.4         0.005 vs 0.781
  k=5 accuracy 0.05 vs k=5 accuracy 0.05   0.019 vs 0.570
  k=3 no seed effect vs k=3 no seed effect 0.002 vs 0.053
Conservative (one t term per model, not Welch-Satterthwaite across the two, which rejected
9.3% in the first, unequal, case).
(Every number: `python tests/test_stats_coverage.py`.)
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass

import numpy as np
import pytest
from scipy.special import ndtr, ndtri
from scipy.stats import norm

from mmbench.stats import (
    CONFIDENCE,
    Estimate,
    bootstrap_mean,
    half_width,
    interval_p_value,
    pool_arrays,
    pool_seeds,
    quantile,
    seed_term,
)

N = 500  # test records
REPS = 4000
G = 0.5  # share of a record's latent that all seeds share (its difficulty)
MU = 0.75  # the family's mean accuracy for normal seed effects on the accuracy scale
A0 = 0.9  # probit of the typical accuracy (~0.8) for normal seed effects on the probit scale
BIMODAL = (0.5244, 1.2816, 1 / 3)  # probits of accuracy 0.70 (plateau) and 0.90 (learned); P(plateau)
KS = (2, 3, 5)
CHUNK = 1000

# (seed-effect family, spread): asserted to cover >= 93%; REPORTED: measured, not asserted.
ASSERTED = (("accuracy", 0.0), ("accuracy", 0.05), ("accuracy", 0.1), ("probit", 0.2), ("probit", 0.4))
REPORTED = (("probit", 0.0), ("probit", 0.1), ("accuracy", 0.2), ("probit", 0.8), ("bimodal", 0.0))


@dataclass(frozen=True)
class Family:
    """How one model's seeds vary: `kind` "accuracy" (expected accuracy MU + spread * Z),
    "probit" (probit A0 + spread * Z) or "bimodal" (BIMODAL)."""

    k: int
    kind: str = "accuracy"
    spread: float = 0.0

    def probits(self, rng: np.random.Generator, reps: int) -> np.ndarray:
        shape = (reps, self.k, 1)
        if self.kind == "accuracy":
            return ndtri(np.clip(MU + self.spread * rng.standard_normal(shape), 1e-4, 1 - 1e-4))
        if self.kind == "probit":
            return A0 + self.spread * rng.standard_normal(shape)
        plateau, learned, share = BIMODAL
        return np.where(rng.random(shape) < share, plateau, learned)

    @property
    def mean(self) -> float:
        """The true mean accuracy over seeds and test sets."""
        if self.kind == "accuracy":
            return _clipped_normal_mean(MU, self.spread, 1e-4, 1 - 1e-4)
        if self.kind == "probit":
            return float(ndtr(A0 / math.sqrt(1 + self.spread**2)))
        plateau, learned, share = BIMODAL
        return share * float(ndtr(plateau)) + (1 - share) * float(ndtr(learned))


def _clipped_normal_mean(mu: float, sd: float, low: float, high: float) -> float:
    if sd == 0:
        return float(np.clip(mu, low, high))
    a, b = (low - mu) / sd, (high - mu) / sd
    above = sd * float(norm.pdf(b)) - (high - mu) * float(norm.sf(b))  # E[(X - high)+]
    below = sd * float(norm.pdf(a)) + (low - mu) * float(norm.cdf(a))  # E[(low - X)+]
    return mu - above + below


def draw(families: tuple[Family, ...], reps: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per model: per-seed accuracy [reps, k] and seed-averaged per-record score [reps, N],
    every model's seeds scored on one shared test set per repetition."""
    rng = np.random.default_rng(seed)
    out = [(np.empty((reps, f.k)), np.empty((reps, N))) for f in families]
    for start in range(0, reps, CHUNK):
        r = min(CHUNK, reps - start)
        u = math.sqrt(G) * rng.standard_normal((r, 1, N), dtype=np.float32)
        for f, (acc, records) in zip(families, out, strict=True):
            w = rng.standard_normal((r, f.k, N), dtype=np.float32)
            correct = (f.probits(rng, r).astype(np.float32) + u + math.sqrt(1 - G) * w) > 0
            acc[start:start + r] = correct.mean(axis=-1, dtype=np.float64)
            records[start:start + r] = correct.mean(axis=1, dtype=np.float64)
    return out


def plug_in_var(x: np.ndarray) -> np.ndarray:
    """Each seed's bootstrap (plug-in) variance of its accuracy, a mean of 0/1 scores."""
    return x * (1 - x) / N


def old_half(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The rule before: z = 1.96 on s^2 / k plus the mean per-seed test-set variance."""
    return quantile() * np.sqrt(x.var(axis=-1, ddof=1) / x.shape[-1] + v.mean(axis=-1))


def welch_half(x: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Welch-Satterthwaite degrees of freedom on the summed variance, for the record (not
    used: it under-covers with two seeds, as its degrees of freedom come from s itself)."""
    from scipy import stats as sps

    k = x.shape[-1]
    a, b = x.var(axis=-1, ddof=1) / k, v.mean(axis=-1)
    df = (k - 1) * ((a + b) / np.maximum(a, 1e-30)) ** 2
    return sps.t.isf((1 - CONFIDENCE) / 2, np.minimum(df, 1e12)) * np.sqrt(a + b)


def _seed(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode())


@functools.cache
def coverage(k: int, kind: str, spread: float) -> dict[str, float]:
    """Share of repetitions whose 95% interval holds the true mean, per rule."""
    family = Family(k, kind, spread)
    ((x, _),) = draw((family,), REPS, _seed(k, kind, spread))
    v = plug_in_var(x)
    mean, _, _, half = pool_arrays(x, v)
    miss = np.abs(mean - family.mean)
    return {"new": float(np.mean(miss <= half)), "old": float(np.mean(miss <= old_half(x, v))),
            "welch": float(np.mean(miss <= welch_half(x, v)))}


@pytest.mark.parametrize(("kind", "spread"), ASSERTED)
def test_pooled_interval_covers_for_two_three_and_five_seeds(kind: str, spread: float) -> None:
    for k in KS:
        got = coverage(k, kind, spread)
        assert got["new"] >= 0.93, f"{kind} {spread} k={k}: {got}"


def test_the_old_rule_under_covers_when_seeds_matter() -> None:
    """The test has teeth: z = 1.96 on a spread from two or three seeds misses far more than 5%."""
    for k, at_most in ((2, 0.80), (3, 0.86)):
        got = coverage(k, "probit", 0.4)
        assert got["old"] < at_most < got["new"]


def test_bimodal_seeds_fall_short_but_beat_the_old_rule() -> None:
    """A known shortfall (see the module docstring): reported, not hidden."""
    for k in KS:
        got = coverage(k, "bimodal", 0.0)
        assert got["new"] >= got["old"]


@pytest.mark.parametrize(("a", "b"), [(Family(2, spread=0.08), Family(5, spread=0.01)),
                                      (Family(3, spread=0.05), Family(3, spread=0.05)),
                                      (Family(2, "probit", 0.4), Family(2, "probit", 0.4))])
def test_paired_difference_keeps_its_level_under_the_null(a: Family, b: Family) -> None:
    """Two models with the same mean, on one shared test set: the seed-aware test (the
    interval `with_seed_spread` builds, from the same functions) rejects at most about 5%;
    the paired bootstrap of seed-averaged scores alone calls seed noise a difference."""
    new, old, _ = paired_level(a, b)
    assert new <= 0.06, f"rejects {new:.3f} under H0"
    assert old > 0.3


def paired_level(a: Family, b: Family) -> tuple[float, float, float]:
    """Rejection rates under the null: seed-aware, paired bootstrap alone, and Welch-
    Satterthwaite degrees of freedom across the two seed terms (for the record)."""
    from scipy import stats as sps

    (xa, ra), (xb, rb) = draw((a, b), 2000, _seed(a, b))
    paired_var = (rb - ra).var(axis=-1) / N
    delta = np.abs(xb.mean(axis=-1) - xa.mean(axis=-1))
    terms = seed_term(xa) + seed_term(xb)
    seeds = sum(v for v, _ in terms)
    df = seeds**2 / np.maximum(sum(v**2 / dof for v, dof in terms), 1e-300)
    welch = np.sqrt(sps.t.isf((1 - CONFIDENCE) / 2, df) ** 2 * seeds + quantile() ** 2 * paired_var)
    return (float((delta > half_width(terms, paired_var)).mean()),
            float((delta > quantile() * np.sqrt(paired_var)).mean()), float((delta > welch).mean()))


def test_the_bootstrap_path_gives_the_same_intervals() -> None:
    """pool_seeds on bootstrap_mean's per-seed intervals (what a run records and the
    leaderboard pools) matches the plug-in variances used above."""
    rng = np.random.default_rng(3)
    ratios = []
    for rep in range(40):
        u = math.sqrt(G) * rng.standard_normal(N)
        b = Family(3, "probit", 0.4).probits(rng, 1)[0]
        correct = (b + u + math.sqrt(1 - G) * rng.standard_normal((3, N))) > 0
        x = correct.mean(axis=-1)
        pooled = pool_seeds([bootstrap_mean(correct[i].astype(float), seed=rep * 3 + i) for i in range(3)])
        ratios.append((pooled.ci_high - pooled.ci_low) / 2 / float(pool_arrays(x, plug_in_var(x))[3]))
    assert 0.97 < float(np.median(ratios)) < 1.03 and min(ratios) > 0.9


def test_pool_seeds_by_hand() -> None:
    t2 = 4.302652729911275  # Student t, 2 degrees of freedom, 97.5%
    pooled = pool_seeds([Estimate(0.7, 0.66, 0.74), Estimate(0.8, 0.76, 0.84), Estimate(0.9, 0.86, 0.94)])
    se = 0.04 / quantile()
    assert (pooled.ci_high - pooled.ci_low) / 2 == pytest.approx(math.hypot(t2 * 0.1 / math.sqrt(3), quantile() * se))
    assert pooled.test_se == pytest.approx(se) and pooled.seed_spread_dominates is True
    one = pool_seeds([Estimate(0.8, 0.76, 0.84)])
    assert (one.ci_low, one.ci_high) == pytest.approx((0.76, 0.84)) and math.isnan(one.std)
    assert one.seed_spread_dominates is None and one.seeds == 1


def test_interval_p_value_inverts_the_interval() -> None:
    from scipy import stats as sps

    # One t term alone: the t test; no seed term: the normal test.
    assert interval_p_value(0.3, [(0.01, 2)], 0.0) == pytest.approx(2 * sps.t.sf(3.0, 2), rel=1e-8)
    assert interval_p_value(0.3, [], 0.01) == pytest.approx(2 * sps.norm.sf(3.0), rel=1e-8)
    terms, test_var = [(0.002, 1), (0.001, 4)], 0.0005
    edge = float(half_width(terms, test_var, CONFIDENCE))
    assert interval_p_value(edge, terms, test_var) == pytest.approx(1 - CONFIDENCE, rel=1e-6)
    assert interval_p_value(0.0, terms, test_var) == 1.0
    assert interval_p_value(0.1, [], 0.0) == 0.0  # no variance at all
    far = interval_p_value(50.0, terms, test_var)  # t with 1 degree of freedom has heavy tails
    assert 2 * sps.t.sf(50.0 / math.sqrt(0.002), 1) < far < 1e-3


if __name__ == "__main__":  # the tables of the module docstring
    for kind, spread in sorted({*ASSERTED, *REPORTED}):
        cells = [coverage(k, kind, spread) for k in KS]
        print(f"{kind:8s} {spread:4.2f} " + "   ".join(
            rule + " " + " ".join(f"{c[rule]:.3f}" for c in cells) for rule in ("new", "old", "welch")))
    for a, b in [(Family(2, spread=0.08), Family(5, spread=0.01)), (Family(3, spread=0.05), Family(3, spread=0.05)),
                 (Family(2, "probit", 0.4), Family(2, "probit", 0.4)), (Family(3), Family(3)),
                 (Family(5, spread=0.05), Family(5, spread=0.05))]:
        new, old, welch = paired_level(a, b)
        print(a, b, f"rejects under H0: new {new:.3f} old {old:.3f} welch {welch:.3f}")
