"""Several runs on one store: each job is trained once, by one process, and every run
finishes with all of its records (issue 9, point 3)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import mmbench
from mmbench.runner import driver, steps
from mmbench.runner.plan import plan
from mmbench.runner.store import ResultStore
from mmbench.runner.suite import load_suite

TINY = str(Path(__file__).parent / "data" / "tiny_suite.yaml")
COUNTING = f"{Path(__file__).parent / 'data' / 'counting_model.py'}:CountingModel"


def _suite(path: Path, seeds: list[int]) -> str:
    path.write_text(f"name: {path.stem}\nseeds: {seeds}\nmodels: [majority]\n"
                    "datasets:\n  - {name: shapes-c, adapter: shapes, options: {scale: 0.03}}\n")
    return str(path)


def test_four_runs_with_overlapping_suites_share_one_store(tmp_path: Path, isolated_home: Path) -> None:
    store, log = tmp_path / "store", tmp_path / "fits.log"
    seeds = {"a": [0, 1, 2], "b": [1, 2, 3], "c": [2, 3, 4], "d": [0, 4, 5]}
    env = {**os.environ, "MMBENCH_HOME": str(isolated_home), "MMBENCH_TEST_FIT_LOG": str(log),
           "MMBENCH_TEST_FIT_SLEEP": "0.4"}
    procs = [subprocess.Popen([sys.executable, "-m", "mmbench.cli", "run", "--suite",
                               _suite(tmp_path / f"{name}.yaml", chosen), "--store", str(store),
                               "--model-file", COUNTING, "--no-leaderboard", "--quiet",
                               "--jobs", "2" if name == "a" else "1"],  # forked workers claim too
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for name, chosen in seeds.items()]
    results = [(proc.wait(timeout=300), *proc.communicate()) for proc in procs]
    for code, out, err in results:
        assert code == 0, err
        assert "3 run record(s)" in out
    # Each job trained exactly once, whichever process got it first.
    trained = Counter(int(line.split()[1]) for line in log.read_text().splitlines())
    assert trained == {seed: 1 for seed in range(6)}
    records = ResultStore(store).records()
    assert sorted(r.seed for r in records) == list(range(6))
    assert sorted(p.name for p in (store / "records").iterdir()) == sorted(f"{r.key}.json" for r in records)
    assert len(list((store / "predictions").iterdir())) == 6
    assert not list((store / "claims").iterdir())  # every claim was given back


def test_a_job_listed_twice_runs_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = plan(load_suite(TINY), models=["majority"]).evals
    calls: list[str] = []
    real = steps.evaluate

    def counted(step: object, *args: object, **kwargs: object) -> object:
        calls.append(f"{step.seed}")  # type: ignore[attr-defined]
        return real(step, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(steps, "evaluate", counted)
    records = driver.run(jobs + jobs[::-1], ResultStore(tmp_path), progress=False)
    assert sorted(calls) == ["0", "1"]
    assert [r.seed for r in records] == [0, 1]


def test_a_record_written_first_by_another_process_is_a_success(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    first = mmbench.run(TINY, models=["majority"], store=tmp_path)
    # As if another process that takes no claims wrote each record between our check and our write.
    monkeypatch.setattr(ResultStore, "has", lambda self, key: False)
    monkeypatch.setattr(ResultStore, "find", lambda self, key: None)
    again = mmbench.run(TINY, models=["majority"], store=tmp_path)
    assert [r.key for r in again] == [r.key for r in first]
    assert [r.created for r in again] == [r.created for r in first]  # the stored ones, not new ones


def test_a_job_another_process_holds_is_waited_for_then_read(tmp_path: Path) -> None:
    from mmbench.runner import claims

    jobs = plan(load_suite(TINY), models=["majority"], seeds=1).evals
    store = ResultStore(tmp_path)
    info = driver.ensure_dataset(jobs[0].dataset)
    key = jobs[0].key(info.fingerprint)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the other process: claims the step, runs and writes it, then lets go
        try:
            with claims.claim(store.root, key):
                os.write(write, b"x")
                fit = jobs[0].fit
                assert fit is not None
                unit = steps.Unit(fit, fit.key(info.fingerprint), ((key, jobs[0]),), {info.name: info},
                                  str(store.root))
                item = steps.run_unit(unit).results[0]
                store.write(item.record, item.predictions)
        finally:
            os._exit(0)
    os.read(read, 1)  # the child holds the claim now
    messages: list[str] = []
    records = driver.run(jobs, store, progress=False, log=messages.append)
    os.waitpid(child, 0)
    assert records[0].key == key
    assert any("finished by another process" in m for m in messages), messages


def test_builds_of_one_name_that_finish_together_all_succeed(tmp_path: Path) -> None:
    from mmbench import data
    from mmbench.adapters.shapes import ShapesAdapter

    children = []
    for _ in range(4):
        child = os.fork()
        if child == 0:  # each replaces the dataset folder; the swaps take turns
            code = 1
            try:
                data.build(ShapesAdapter(scale=0.05), name="same", home=tmp_path)
                code = 0
            finally:
                os._exit(code)
        children.append(child)
    assert [os.waitstatus_to_exitcode(os.waitpid(c, 0)[1]) for c in children] == [0, 0, 0, 0]
    assert [p.name for p in tmp_path.iterdir()] == ["same"]  # no staging folder, no lock file
    assert data.info("same", tmp_path).splits == {"train": 100, "val": 25, "test": 50}
