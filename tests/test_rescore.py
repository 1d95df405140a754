import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mmbench
from mmbench.cli import main
from mmbench.runner.store import ResultStore

TINY = str(Path(__file__).parent / "data" / "tiny_suite.yaml")

# Rescore in a fresh interpreter and report which heavy modules it imported.
PROBE = """
import sys
from mmbench.cli import main
code = main(["rescore", "--store", sys.argv[1], "--out", sys.argv[2]])
heavy = sorted(m for m in sys.modules if m == "torch" or m.startswith(("torch.", "mmbench.models")))
print("HEAVY", heavy)
sys.exit(code)
"""


@pytest.fixture
def store(tmp_path: Path) -> Path:
    mmbench.run(TINY, models=["majority"], store=tmp_path / "store")
    return tmp_path / "store"


def test_rescore_reproduces_metrics_without_loading_a_model(store: Path, tmp_path: Path,
                                                            isolated_home: Path) -> None:
    out = tmp_path / "rescored"
    proc = subprocess.run([sys.executable, "-c", PROBE, str(store), str(out)], capture_output=True, text=True,
                          env={**os.environ, "MMBENCH_HOME": str(isolated_home)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout
    assert "rescored 2 record(s)" in proc.stdout and "0 metric value(s) changed" in proc.stdout
    old, new = ResultStore(store), ResultStore(out)
    for record in old.records():
        again = new.get(record.key)
        assert again.metrics == record.metrics  # same predictions, same bootstrap seed: same CIs
        assert again.env["rescored_from"] == {"store": str(store.resolve()), "key": record.key,
                                              "created": record.created}
        assert new.predictions(record.key).equals(old.predictions(record.key))


def test_changed_metrics_are_reported_and_the_source_is_left_alone(store: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    results = ResultStore(store)
    record = results.records()[0]
    raw = json.loads(results.record_path(record.key).read_text())
    true_value = raw["metrics"]["accuracy"]["value"]
    raw["metrics"]["accuracy"]["value"] = 0.123  # as if an old, buggy accuracy had been stored
    results.record_path(record.key).write_text(json.dumps(raw))
    before = {p.name: p.read_bytes() for p in (store / "records").iterdir()}

    out = tmp_path / "fixed"
    assert main(["rescore", "--store", str(store), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "1 metric value(s) changed" in text
    assert f"changed  {record.key}: accuracy: value 0.1230 -> {true_value:.4f}" in text
    assert ResultStore(out).get(record.key).metrics["accuracy"]["value"] == true_value
    assert {p.name: p.read_bytes() for p in (store / "records").iterdir()} == before  # append-only

    written = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    # A rescore writes a whole new store at once, so it refuses a folder that holds one.
    assert main(["rescore", "--store", str(store), "--out", str(out)]) == 2
    assert "already exists and is not empty" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == written  # nothing is overwritten


def test_rescore_refuses_to_write_into_its_own_store(store: Path) -> None:
    with pytest.raises(ValueError, match="another store"):
        mmbench.api.rescore(store, store)


def test_records_without_predictions_are_skipped(store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    key = ResultStore(copy).records()[0].key
    ResultStore(copy).predictions_path(key).unlink()
    report = mmbench.api.rescore(copy, tmp_path / "out")
    assert report.skipped == [(key, "no stored predictions")] and len(report.written) == 1
