import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mmbench
from mmbench.cli import main
from mmbench.report.rescore import score_record
from mmbench.runner.store import ResultStore

TINY = str(Path(__file__).parent / "data" / "tiny_suite.yaml")
FLIPPED = 20  # right -> wrong rows injected into B


@pytest.fixture(scope="module")
def store_a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The majority baseline on the tiny suite, in the default store of its own home."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MMBENCH_HOME", str(home))
        mmbench.run(TINY, models=["majority"], seeds=1)
    return home / "results"


def _rewrite(store: Path, table_edit: Any = None, record_edit: Any = None) -> None:
    """Overwrite a copied store's records in place (a test-only stand-in for a different run)."""
    results = ResultStore(store)
    for record in results.records():
        table = results.predictions(record.key)
        if table_edit is not None:
            table = table_edit(table)
            pq.write_table(table, results.predictions_path(record.key))
            record = replace(record, metrics=score_record(record, table))
        if record_edit is not None:
            record = record_edit(record)
        results.record_path(record.key).write_text(record.to_json())


def _regress(table: pa.Table) -> pa.Table:
    """Make the first FLIPPED correctly predicted rows wrong."""
    labels, probs = table.column("label").to_pylist(), table.column("probs").to_pylist()
    flipped = 0
    for i, (label, row) in enumerate(zip(labels, probs, strict=True)):
        if flipped < FLIPPED and max(range(len(row)), key=row.__getitem__) == label:
            probs[i] = row[::-1]
            flipped += 1
    preds = [max(range(len(r)), key=r.__getitem__) for r in probs]
    table = table.set_column(table.column_names.index("probs"), "probs", pa.array(probs))
    return table.set_column(table.column_names.index("prediction"), "prediction", pa.array(preds, pa.int64()))


@pytest.fixture
def store_b(store_a: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "b"
    shutil.copytree(store_a, copy)
    _rewrite(copy, table_edit=_regress)
    return copy


def _strict(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["compare", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out, parse_constant=_strict)


def test_identical_stores_show_no_change_and_pass_the_gate(store_a: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(store_a), str(store_a), "--fail-on-regression", "0"]) == 0
    out = capsys.readouterr().out
    assert "shapes-tiny" in out and "majority" in out and "-0.0" not in out
    code, report = _json(capsys, str(store_a), str(store_a))
    assert code == 0 and {r["metric"] for r in report["rows"]} == {"accuracy", "macro_f1", "auroc", "ece",
                                                                   "ece_adaptive", "brier", "nll"}
    assert all(r["delta"] == 0 and r["p_value"] == 1.0 for r in report["rows"])


def test_injected_regression_is_measured_per_sample(store_a: Path, store_b: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _json(capsys, str(store_a), str(store_b))
    assert code == 0
    row = next(r for r in report["rows"] if r["metric"] == "accuracy")
    n = row["n_paired"]
    assert n == 60 and row["delta"] == pytest.approx(-FLIPPED / n)
    assert row["value_b"] - row["value_a"] == pytest.approx(-FLIPPED / n)
    assert (row["right_to_wrong"], row["wrong_to_right"]) == (FLIPPED, 0)
    assert row["test"] == "mcnemar-exact" and row["p_value"] == pytest.approx(2 * 0.5**FLIPPED)
    assert row["ci_low"] < row["delta"] < row["ci_high"] < 0
    # Majority always answers the larger class: all flips fall in that class.
    deltas = {c["label"]: c["delta"] for c in row["per_class"]}
    assert sorted(deltas.values())[0] < 0 and sorted(deltas.values())[1] == 0
    assert sum(c["n"] for c in row["per_class"]) == n


def test_regression_gate_exit_code(store_a: Path, store_b: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(store_a), str(store_b), "--fail-on-regression", "0.05"]) == 1
    assert "regression: shapes-tiny/classification/majority accuracy" in capsys.readouterr().err
    assert main(["compare", str(store_a), str(store_b), "--fail-on-regression", "0.5"]) == 0  # drop 0.33
    assert main(["compare", str(store_b), str(store_a), "--fail-on-regression", "0.05"]) == 0  # improvement


def test_markdown_and_record_file_sources(store_a: Path, store_b: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = ResultStore(store_a).records()[0].key
    file_a, file_b = (s / "records" / f"{key}.json" for s in (store_a, store_b))
    assert main(["compare", str(file_a), str(file_b), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# mmbench compare") and "| dataset | task | model |" in out
    assert f"-{FLIPPED / 60:.3f}" in out


def test_suite_name_resolves_to_its_records_in_the_default_store(store_a: Path, store_b: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MMBENCH_HOME", str(store_a.parent))
    code, report = _json(capsys, TINY, str(store_b))
    assert code == 0 and report["a"] == TINY and len(report["rows"]) == 7  # 3 scores, 4 calibration


def test_different_fingerprints_are_refused_unless_forced(store_a: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "c"
    shutil.copytree(store_a, other)
    _rewrite(other, record_edit=lambda r: replace(r, dataset_fingerprint="0" * 64))
    original = ResultStore(store_a).records()[0].dataset_fingerprint
    assert main(["compare", str(store_a), str(other)]) == 2
    err = capsys.readouterr().err
    assert "'shapes-tiny'" in err and original in err and "0" * 64 in err and "--force" in err
    assert main(["compare", str(store_a), str(other), "--force"]) == 0
    out = capsys.readouterr().out
    assert out.count("!! WARNING") == 2 and original in out  # at the top and again at the bottom


def test_unknown_source_is_a_clear_error(store_a: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(store_a), "no-such-thing"]) == 2
    assert "neither a result store folder" in capsys.readouterr().err


def test_runs_from_another_machine_are_flagged_per_pair(store_a: Path, tmp_path: Path) -> None:
    from mmbench.report.compare import compare

    other = tmp_path / "other"
    shutil.copytree(store_a, other)

    def elsewhere(record: Any) -> Any:
        numerics = {**record.env["numerics"], "cpu": "Some Other CPU", "aten_capability": "AVX512"}
        return replace(record, env={**record.env, "numerics": numerics})

    _rewrite(other, record_edit=elsewhere)
    warnings = compare(store_a, other).warnings
    assert any("shapes-tiny/classification/majority: the runs differ in numeric paths or versions" in w
               and "cpu" in w and "Some Other CPU" in w for w in warnings), warnings
    assert not any("numeric paths" in w for w in compare(store_a, store_a).warnings)
