"""`compare` pairs runs by dataset, task, model and training corpus: a transfer run (fitted on
another corpus) never pairs with an in-distribution run, and is labelled with its corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmbench.report.compare import FingerprintMismatch, compare, render
from mmbench.runner.store import ResultStore, RunRecord
from mmbench.tasks.classification import predictions_table, score

N = 200
LABELS = np.random.default_rng(3).integers(0, 2, N)


def _write(store: Path, model: str, accuracy: float, *, trained_on: str = "",
           train_fingerprint: str = "a" * 64) -> None:
    """One classification run on `shapes-shifted`, right on the first `accuracy * N` records."""
    right = np.arange(N) < round(accuracy * N)
    wanted = np.where(right, LABELS, 1 - LABELS)
    probs = np.where(wanted[:, None] == np.arange(2), 0.8, 0.2)
    table = predictions_table([f"s-{i}" for i in range(N)], LABELS, probs)
    metrics = {k: {**v.to_dict(), "higher_is_better": True}
               for k, v in score(LABELS, probs, ("accuracy",)).items()}
    record = RunRecord(key=f"{model}-{trained_on or 'in'}", benchmark="t", dataset="shapes-shifted",
                       dataset_fingerprint="b" * 64, task="classification", eval_split="test",
                       model=model, model_config={}, config_hash="h", seed=0, limit=None, n=N,
                       metrics=metrics, primary_metric="accuracy", created="2026-01-01T00:00:00Z",
                       train_dataset=trained_on, train_fingerprint=train_fingerprint if trained_on else "")
    ResultStore(store).write(record, table)


def test_transfer_and_in_distribution_runs_pair_only_with_their_own_kind(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for store, transfer_accuracy in ((a, 0.7), (b, 0.6)):
        _write(store, "concat-fusion", 0.9)  # the same in distribution on both sides
        _write(store, "concat-fusion", transfer_accuracy, trained_on="shapes")
    result = compare(a, b, n_boot=200)
    rows = {r.train_dataset: r for r in result.rows}
    assert sorted(rows) == ["shapes", "shapes-shifted"] and not result.warnings
    assert rows["shapes-shifted"].delta == 0 and not rows["shapes-shifted"].transfer
    # Paired only with the other transfer run: 0.7 -> 0.6, not with 0.9 in distribution.
    assert rows["shapes"].delta == pytest.approx(-0.1) and rows["shapes"].value_a == pytest.approx(0.7)
    assert rows["shapes"].right_to_wrong == 20 and rows["shapes"].wrong_to_right == 0
    assert rows["shapes"].where == "shapes-shifted/classification/concat-fusion (trained on shapes)"
    for fmt in ("table", "markdown"):
        lines = render(result, fmt).splitlines()
        assert sum("shapes-shifted (trained on shapes)" in line for line in lines) >= 2  # scores, per class
        assert any("shapes-shifted " in line and "trained on" not in line and "accuracy" in line
                   for line in lines)
    assert '"train_dataset": "shapes"' in render(result, "json")


def test_a_transfer_run_is_never_paired_with_an_in_distribution_one(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a, "concat-fusion", 0.9)
    _write(b, "concat-fusion", 0.6, trained_on="shapes")
    result = compare(a, b)
    assert result.rows == []
    assert result.warnings == ["only in A: shapes-shifted/classification/concat-fusion",
                               "only in B: shapes-shifted/classification/concat-fusion (trained on shapes)"]


def test_transfer_runs_fitted_on_different_builds_are_refused_unless_forced(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a, "concat-fusion", 0.7, trained_on="shapes", train_fingerprint="1" * 64)
    _write(b, "concat-fusion", 0.6, trained_on="shapes", train_fingerprint="2" * 64)
    with pytest.raises(FingerprintMismatch, match="'shapes'.*" + "1" * 64 + ".*" + "2" * 64):
        compare(a, b)
    forced = compare(a, b, force=True, n_boot=200)
    assert len(forced.rows) == 1 and forced.warnings[0].startswith("WARNING: dataset 'shapes'")


def test_compare_warns_when_the_runs_took_other_numeric_paths_or_versions() -> None:
    from mmbench.report.provenance import environment_differences

    def record(cpu: str, torch: str, portable: bool) -> RunRecord:
        env = {"packages": {"torch": torch}, "numerics": {"cpu": cpu, "simd": "avx2", "aten_capability": "AVX2",
                                                        "portable": portable, "settings": {}, "libraries": {}}}
        return RunRecord(key="k", benchmark="b", dataset="d", dataset_fingerprint="f", task="t", eval_split="test",
                         model="m", model_config={}, config_hash="h", seed=0, limit=None, n=1, metrics={}, env=env)

    same = environment_differences([record("AMD EPYC", "2.13.0", False)], [record("AMD EPYC", "2.13.0", False)])
    assert same == []
    other = environment_differences([record("AMD EPYC", "2.13.0", False)], [record("Intel Xeon", "2.14.1", False)])
    assert other == ["cpu 'AMD EPYC' vs 'Intel Xeon'", "torch '2.13.0' vs '2.14.1'"]
    # Under portable mode on both sides another CPU takes the same numeric paths.
    assert environment_differences([record("AMD EPYC", "2.13.0", True)], [record("Intel Xeon", "2.13.0", True)]) == []
