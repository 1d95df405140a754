import math

import numpy as np
import pytest
from scipy.stats import binomtest

from mmbench.metrics import METRICS
from mmbench.paired import Pair, Runs, paired_test, rank_intervals, ties_with
from mmbench.stats import (
    SEED_TEST,
    PairedTest,
    bootstrap_mean,
    bootstrap_metric,
    holm,
    mcnemar,
    paired_bootstrap,
    quantile,
    resample,
)


def _width(est: object) -> float:
    return est.ci_high - est.ci_low  # type: ignore[attr-defined]


def test_clustered_interval_is_wider_when_clusters_are_correlated() -> None:
    rng = np.random.default_rng(0)
    # 40 images with 10 questions each; every question about an image shares its outcome.
    values = np.repeat(rng.integers(0, 2, 40), 10).astype(float)
    clusters = np.repeat([f"sha{i}" for i in range(40)], 10)
    rows, clustered = bootstrap_mean(values), bootstrap_mean(values, clusters=clusters)
    assert rows.value == clustered.value
    # The effective sample size is 40, not 400: about sqrt(10) ~ 3.2 times wider.
    assert _width(clustered) > 2.5 * _width(rows)


def test_singleton_clusters_are_the_row_bootstrap() -> None:
    values = np.random.default_rng(1).random(300)
    ids = [f"row{i}" for i in range(300)]
    assert bootstrap_mean(values, seed=4, clusters=ids) == bootstrap_mean(values, seed=4)


def test_clusters_of_independent_rows_give_the_same_width_in_expectation() -> None:
    ratios = []
    for seed in range(20):
        values = np.random.default_rng(seed).integers(0, 2, 400).astype(float)
        pairs = np.repeat(np.arange(200), 2)  # clusters of two unrelated rows
        clustered = bootstrap_mean(values, seed=seed, clusters=pairs)
        ratios.append(_width(clustered) / _width(bootstrap_mean(values, seed=seed)))
    assert 0.93 < float(np.mean(ratios)) < 1.07


def test_cluster_draws_keep_clusters_whole() -> None:
    clusters = np.array([3, 3, 1, 7, 7, 7, 1, 9])
    for draw in resample(len(clusters), seed=0, n_boot=20, clusters=clusters):
        drawn = clusters[draw]
        for c in np.unique(drawn):
            size = int(np.sum(clusters == c))
            assert np.sum(drawn == c) % size == 0  # a cluster comes with all its rows


@pytest.mark.parametrize("expand_cells", [1 << 20, 7])
def test_cluster_draws_are_the_drawn_clusters_rows_in_order(expand_cells: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each resample is its drawn clusters' rows, cluster after cluster in the order drawn,
    as an expansion one resample at a time gives them; also when expanded a few at a time."""
    import mmbench.stats as stats

    monkeypatch.setattr(stats, "EXPAND_CELLS", expand_cells)
    codes = stats.cluster_codes(np.random.default_rng(3).integers(0, 40, 150))
    assert codes is not None
    picked = stats.bootstrap_indices(int(codes.max()) + 1, seed=2, n_boot=60)
    members = [np.flatnonzero(codes == c) for c in range(int(codes.max()) + 1)]
    draws = stats._draw(150, seed=2, n_boot=60, codes=codes)
    assert isinstance(draws, stats.RaggedDraws) and len(draws.groups) > 1
    for chosen, rows in zip(picked, draws, strict=True):
        assert rows.tolist() == np.concatenate([members[c] for c in chosen]).tolist()


def test_clustered_metric_resampled_fast_path_equals_the_loop() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 120)
    probs = rng.random((120, 3))
    clusters = np.repeat(np.arange(30), 4)
    metric = METRICS.get("macro_f1")
    fast = bootstrap_metric(metric.fn, labels, probs, seed=1, n_boot=200, resampled=metric.resampled,
                            clusters=clusters)
    slow = bootstrap_metric(metric.fn, labels, probs, seed=1, n_boot=200, clusters=clusters)
    assert fast.ci_low == pytest.approx(slow.ci_low, abs=1e-12)
    assert fast.ci_high == pytest.approx(slow.ci_high, abs=1e-12)


@pytest.mark.parametrize(("a_only", "b_only"), [(0, 3), (2, 9), (7, 7), (12, 5), (1, 0)])
def test_mcnemar_exact_matches_the_binomial_test(a_only: int, b_only: int) -> None:
    a = np.r_[np.ones(a_only), np.zeros(b_only), np.ones(30), np.zeros(10)]
    b = np.r_[np.zeros(a_only), np.ones(b_only), np.ones(30), np.zeros(10)]
    p, name, n01, n10 = mcnemar(a, b)
    assert (name, n01, n10) == ("mcnemar-exact", a_only, b_only)
    assert p == pytest.approx(binomtest(min(a_only, b_only), a_only + b_only, 0.5).pvalue, rel=1e-9)


def test_mcnemar_chi_square_with_continuity_correction_by_hand() -> None:
    a = np.r_[np.ones(30), np.zeros(10), np.ones(50)]
    b = np.r_[np.zeros(30), np.ones(10), np.ones(50)]
    p, name, _, _ = mcnemar(a, b)
    statistic = (abs(30 - 10) - 1) ** 2 / 40  # 9.025
    assert name == "mcnemar-chi2"
    assert p == pytest.approx(math.erfc(math.sqrt(statistic / 2)), rel=1e-9)  # chi2(1) tail
    assert mcnemar(np.ones(5), np.ones(5))[0] == 1.0


def test_holm_by_hand() -> None:
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> raised to 0.06 (monotone)
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])
    assert np.isnan(holm([0.01, float("nan")])[1]) and holm([0.01, float("nan")])[0] == pytest.approx(0.01)


def test_paired_bootstrap_sees_a_real_difference_and_no_difference() -> None:
    rng = np.random.default_rng(3)
    a = (rng.random(500) < 0.6).astype(float)
    b = np.where(rng.random(500) < 0.25, 1.0, a)  # b fixes a quarter of a's rows
    same = paired_bootstrap(lambda i: a[i].mean(1), lambda i: a[i].mean(1), 500)
    assert same.delta == 0 and same.p_value == 1.0 and same.ci_low == same.ci_high == 0
    better = paired_bootstrap(lambda i: a[i].mean(1), lambda i: b[i].mean(1), 500)
    assert better.delta == pytest.approx(b.mean() - a.mean())
    assert better.ci_low > 0 and better.p_value < 0.01


def _runs(*correct: np.ndarray) -> Runs:
    labels = np.zeros(len(correct[0]), dtype=np.int64)
    return Runs(list(range(len(correct))), [(labels, np.c_[c, 1 - c]) for c in correct])


def test_paired_test_uses_mcnemar_for_one_seed_and_bootstrap_for_several() -> None:
    rng = np.random.default_rng(5)
    a1, a2, b1 = ((rng.random(200) < p).astype(float) for p in (0.5, 0.5, 0.8))
    accuracy = METRICS.get("accuracy")
    one = paired_test(accuracy, _runs(a1), _runs(b1))
    assert one.test.startswith("mcnemar") and one.a_only + one.b_only == int(np.sum(a1 != b1))
    several = paired_test(accuracy, _runs(a1, a2), _runs(b1, b1))
    assert several.test == SEED_TEST
    assert several.delta == pytest.approx(b1.mean() - (a1.mean() + a2.mean()) / 2)
    # Two identical seeds are still several seeds: the seed test, not McNemar.
    assert paired_test(accuracy, _runs(a1, a1), _runs(b1)).test == SEED_TEST
    assert paired_test(accuracy, _runs(a1), _runs(b1), clusters=np.repeat(np.arange(100), 2)).test == \
        "paired-bootstrap"  # McNemar assumes independent rows


def _pair(a: str, b: str, delta: float, p: float) -> Pair:
    return Pair(a, b, PairedTest(delta, delta, delta, p, "x"), p)


def test_rank_intervals_and_ties_from_pairwise_tests() -> None:
    names = ["w", "x", "y", "z"]  # true order w ~ x > y ~ z
    pairs = [_pair("w", "x", -0.01, 0.4), _pair("w", "y", -0.2, 0.001), _pair("w", "z", -0.3, 0.001),
             _pair("x", "y", -0.19, 0.002), _pair("x", "z", -0.29, 0.001), _pair("y", "z", -0.05, 0.2)]
    assert rank_intervals(names, pairs, higher_is_better=True) == {"w": (1, 2), "x": (1, 2), "y": (3, 4),
                                                                   "z": (3, 4)}
    assert ties_with("w", pairs) == {"w", "x"}
    # Lower-is-better flips who wins.
    assert rank_intervals(names, pairs, higher_is_better=False)["w"] == (3, 4)


def test_seed_spread_widens_the_paired_interval_with_t_on_k_minus_1_degrees_of_freedom() -> None:
    rng = np.random.default_rng(6)
    n = 400
    a = [(rng.random(n) < p).astype(float) for p in (0.60, 0.70, 0.80)]  # seeds that disagree
    b = [(rng.random(n) < 0.75).astype(float) for _ in range(3)]
    accuracy = METRICS.get("accuracy")
    test = paired_test(accuracy, _runs(*a), _runs(*b), n_boot=400)
    boot = paired_bootstrap(lambda i: np.mean(a, 0)[i].mean(1), lambda i: np.mean(b, 0)[i].mean(1), n, n_boot=400)
    assert test.delta == pytest.approx(boot.delta)
    test_var = ((boot.ci_high - boot.ci_low) / (2 * quantile())) ** 2
    t2 = 4.302652729911275  # Student t, 2 degrees of freedom, 97.5%
    seeds = (np.var([x.mean() for x in a], ddof=1) + np.var([x.mean() for x in b], ddof=1)) / 3
    half = np.sqrt(t2**2 * seeds + quantile() ** 2 * test_var)  # same t for both: each has 3 seeds
    assert (test.ci_high - test.ci_low) / 2 == pytest.approx(half)
    assert test.ci_high - test.ci_low > 2 * (boot.ci_high - boot.ci_low)
    # The p-value inverts that interval: below 0.05 exactly when it excludes 0.
    assert (test.p_value < 0.05) == (test.ci_low > 0 or test.ci_high < 0)


def test_a_clear_difference_survives_the_seed_treatment() -> None:
    rng = np.random.default_rng(8)
    a = [(rng.random(500) < 0.55).astype(float) for _ in range(3)]
    b = [(rng.random(500) < 0.85).astype(float) for _ in range(3)]
    test = paired_test(METRICS.get("accuracy"), _runs(*a), _runs(*b), n_boot=400)
    assert test.test == SEED_TEST and test.ci_low > 0 and test.p_value < 0.01


def test_the_same_draws_are_handed_out_again_and_cannot_be_changed() -> None:
    from mmbench.stats import resample

    clusters = np.repeat(np.arange(20), 3).astype(str)
    for kwargs in ({}, {"clusters": clusters}):
        first, again = resample(60, 5, 100, **kwargs), resample(60, 5, 100, **kwargs)
        assert first is again
        array = first if isinstance(first, np.ndarray) else first.groups[0][1]
        with pytest.raises(ValueError):
            array[0] = 1
    assert not np.array_equal(resample(60, 5, 100), resample(60, 6, 100))
