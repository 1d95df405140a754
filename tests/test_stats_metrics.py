import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from mmbench.metrics import METRICS
from mmbench.stats import Estimate, bootstrap_mean, bootstrap_metric, pool_seeds


def _data(n: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    logits = rng.normal(size=(n, 2)) + np.eye(2)[labels] * 0.8
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return labels, probs


def test_metrics_match_scikit_learn() -> None:
    labels, probs = _data()
    preds = probs.argmax(1)
    assert METRICS.get("accuracy").fn(labels, probs) == accuracy_score(labels, preds)
    assert METRICS.get("macro_f1").fn(labels, probs) == f1_score(labels, preds, average="macro")
    assert METRICS.get("auroc").fn(labels, probs) == pytest.approx(roc_auc_score(labels, probs[:, 1]), abs=1e-12)
    assert np.isnan(METRICS.get("auroc").fn(np.zeros(5, int), probs[:5]))


def test_bootstrap_interval_brackets_the_value_and_shrinks_with_n() -> None:
    small = bootstrap_mean(np.r_[np.ones(60), np.zeros(40)], seed=0)
    large = bootstrap_mean(np.r_[np.ones(600), np.zeros(400)], seed=0)
    assert small.ci_low < 0.6 < small.ci_high
    assert (large.ci_high - large.ci_low) < (small.ci_high - small.ci_low) / 2
    # Normal approximation of a proportion's 95% interval: +-1.96 * sqrt(p(1-p)/n).
    assert abs((large.ci_high - large.ci_low) / 2 - 1.96 * np.sqrt(0.24 / 1000)) < 0.006


def test_generic_bootstrap_is_deterministic_for_a_seed() -> None:
    labels, probs = _data()
    fn = METRICS.get("macro_f1").fn
    assert bootstrap_metric(fn, labels, probs, seed=3) == bootstrap_metric(fn, labels, probs, seed=3)


def test_pooling_seeds_counts_seed_spread_and_sampling() -> None:
    same = pool_seeds([Estimate(0.8, 0.76, 0.84)] * 3)
    assert abs(same.mean - 0.8) < 1e-12 and same.std < 1e-12
    assert abs((same.ci_high - same.ci_low) - 0.08) < 1e-9  # sampling error does not shrink
    spread = pool_seeds([Estimate(0.7, 0.66, 0.74), Estimate(0.8, 0.76, 0.84), Estimate(0.9, 0.86, 0.94)])
    assert spread.ci_high - spread.ci_low > same.ci_high - same.ci_low
    assert spread.seeds == 3 and abs(spread.std - 0.1) < 1e-12
    # The seed part takes Student t with k - 1 = 2 degrees of freedom, not z = 1.96.
    z_rule = 1.96 * np.sqrt(0.1**2 / 3 + (0.04 / 1.96) ** 2)
    assert (spread.ci_high - spread.ci_low) / 2 > 1.9 * z_rule
    assert spread.seed_spread_dominates and not same.seed_spread_dominates


def test_vectorised_resampled_metrics_equal_the_loop() -> None:
    from mmbench.stats import bootstrap_indices

    labels, probs = _data(200, seed=4)
    probs3 = np.c_[probs, np.random.default_rng(0).random(200)]
    probs3 /= probs3.sum(1, keepdims=True)
    indices = bootstrap_indices(200, seed=2, n_boot=50)
    for name, p in (("macro_f1", probs), ("macro_f1", probs3), ("auroc", probs)):
        metric = METRICS.get(name)
        fast = metric.resampled(labels, p, indices)
        slow = np.array([metric.fn(labels[i], p[i]) for i in indices])
        np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_macro_f1_equals_scikit_learns_without_importing_it(seed: int) -> None:
    from mmbench.metrics.classification import macro_f1

    rng = np.random.default_rng(seed)
    classes = int(rng.integers(2, 9))
    labels = rng.integers(0, classes - (seed % 2), size=int(rng.integers(1, 80)))  # odd seeds: a class never seen
    probs = rng.random((len(labels), classes))
    expected = f1_score(labels, probs.argmax(axis=1), labels=list(range(classes)), average="macro", zero_division=0)
    assert macro_f1(labels, probs) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_auroc_equals_scikit_learns_with_ties_without_importing_it(seed: int) -> None:
    from mmbench.metrics.classification import auroc

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 120))
    labels = rng.integers(0, 2, size=n)
    labels[:2] = [0, 1]  # both classes present
    positive = rng.integers(0, 1 + seed, size=n) / max(seed, 1)  # seed 0: every score tied
    probs = np.c_[1 - positive, positive]
    assert auroc(labels, probs) == pytest.approx(roc_auc_score(labels, positive), abs=1e-12)


def test_ragged_cluster_draws_score_as_one_call_per_draw() -> None:
    from mmbench.stats import evaluate_draws, resample

    rng = np.random.default_rng(4)
    values = rng.random(300)
    clusters = rng.integers(0, 120, 300)  # clusters of unequal size: draws of unequal length
    draws = resample(300, 0, 200, clusters)
    assert not isinstance(draws, np.ndarray) and len({len(d) for d in draws}) > 1
    per_draw = [values[d[None, :]].mean(axis=1)[0] for d in draws]
    assert evaluate_draws(draws, lambda idx: values[idx].mean(axis=1)).tolist() == per_draw


@pytest.mark.parametrize("name", ["accuracy", "macro_f1", "auroc", "ece", "ece_adaptive", "balanced_accuracy"])
def test_blocks_of_resamples_give_the_values_of_one_call(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bootstrap intervals are bit-identical whether the resamples are evaluated at once,
    a few per call, or made again block by block from the seed (the large-split path)."""
    from mmbench import stats

    labels, probs = _data(500, seed=7)
    metric = METRICS.get(name)
    clusters = np.random.default_rng(1).integers(0, 300, 500)

    def interval(**limits: int) -> list[Estimate]:
        for key, value in limits.items():
            monkeypatch.setattr(stats, key, value)
        stats._DRAWS.clear()
        out = []
        for groups in (None, clusters):
            if metric.resampled is None:
                out.append(bootstrap_mean(metric.per_sample(labels, probs), seed=3, clusters=groups))
            else:
                out.append(bootstrap_metric(metric.fn, labels, probs, seed=3, resampled=metric.resampled,
                                            clusters=groups))
        return out

    whole = interval(BLOCK_CELLS=1 << 30, DRAW_BYTES=1 << 30)
    assert interval(BLOCK_CELLS=3 * 500) == whole  # three resamples per call
    assert interval(BLOCK_CELLS=3 * 500, DRAW_BYTES=1000) == whole  # draws made again in blocks
    assert isinstance(stats.resample(500, 3, clusters=None), stats.BlockDraws)


def test_block_draws_are_the_draws_made_whole() -> None:
    from mmbench.stats import BlockDraws, _draw, cluster_codes

    codes = cluster_codes(np.random.default_rng(2).integers(0, 40, 90))
    for groups in (None, codes):
        whole = _draw(90, 4, 25, groups)
        blocks = [d for block in BlockDraws(90, 4, 25, groups).blocks(cells=90 * 4) for d in block]
        assert len(blocks) == 25 and all(np.array_equal(a, b) for a, b in zip(whole, blocks, strict=True))
