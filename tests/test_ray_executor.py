"""The Ray executor against a real local Ray: the same records as the local executor,
retries of a step that raises and of a worker killed mid-step, failures recorded without
stopping the other steps, a killed driver resumed, and two nodes on one machine.

Ray is started inside the tests, with its temporary folder under the test's tmp path and
RAY_AUTH_MODE=disabled, and shut down after them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mmbench
from mmbench.objects import ObjectStore
from mmbench.runner.artifacts import ArtifactStore
from mmbench.runner.driver import StepsFailed
from mmbench.runner.remote_store import open_store
from mmbench.runner.store import ResultStore
from tests.s3_server import S3

ray = pytest.importorskip("ray", reason="Ray is the optional extra mmbench[ray] (CI installs it)")

FAULTY = str(Path(__file__).parent / "data" / "faulty_model.py") + ":FaultyModel"
BUDGET = {"shapes": {"epochs": 1, "min_epochs": 1}}


def _suite(tmp: Path, models: list[str], seeds: int = 2, diagnostics: list[str] | None = None) -> str:
    path = tmp / f"suite-{len(list(tmp.glob('suite-*')))}.yaml"
    path.write_text(json.dumps({"name": "ray", "seeds": seeds, "models": models, "datasets": ["shapes"],
                                "train": BUDGET, "diagnostics": diagnostics or []}))
    return str(path)


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        # The workers inherit these: credentials for the local S3 server of the remote-home test.
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1"}.items():
            patch.setenv(name, value)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 _temp_dir=str(tmp_path_factory.mktemp("ray")))
        yield
        ray.shutdown()


def _predictions(store: Path) -> dict[str, Any]:
    return _predictions_of(ResultStore(store))


def _predictions_of(results: ResultStore) -> dict[str, Any]:
    return {r.key: (r.metrics, results.predictions(r.key).to_pylist()) for r in results.records()}


def test_a_ray_run_writes_the_records_a_local_run_writes(local_ray: None, tmp_path: Path) -> None:
    suite = _suite(tmp_path, ["majority", "text-only", "concat-fusion"], diagnostics=["modality"])
    # One thread on both sides: a lone local job would get every core (a numeric path).
    local = mmbench.run(suite, store=tmp_path / "local", limit=60, threads=1)
    on_ray = mmbench.run(suite, store=tmp_path / "ray", limit=60, executor="ray")
    assert len(on_ray) == len(local) == 3 * 2 * 3  # models x seeds x views
    assert _predictions(tmp_path / "ray") == _predictions(tmp_path / "local")  # metrics and predictions
    assert all(r.env.get("ray_node") for r in ResultStore(tmp_path / "ray").records())
    fits = {r.fit_key for r in on_ray if r.fit_key}
    assert len(fits) == 3 * 2  # one fit per model and seed, shared by its views
    artifacts = ArtifactStore(tmp_path / "ray")
    stored = {k for k in fits if "concat-fusion" in k}
    assert len(stored) == 2 and all(artifacts.has(k) for k in stored)  # fitted models went through the store


def test_a_ray_run_on_a_remote_home_reads_and_writes_through_object_storage(
        local_ray: None, s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = _suite(tmp_path, ["majority", "concat-fusion"], seeds=1, diagnostics=["modality"])
    local = mmbench.run(suite, store=tmp_path / "local", limit=60, threads=1)  # as a Ray task has
    monkeypatch.setenv("MMBENCH_HOME", s3.url("home"))
    on_ray = mmbench.run(suite, limit=60, executor="ray")
    remote = open_store(s3.url("home", "results"))
    assert _predictions_of(remote) == _predictions(tmp_path / "local")
    assert sorted(r.key for r in on_ray) == sorted(r.key for r in local)
    stored = ObjectStore(s3.url("home")).listing()
    assert any(key.startswith("results/artifacts/fit__concat-fusion") and key.endswith("manifest.json")
               for key in stored)  # the fitted model went from its fit task to its evaluations through S3
    assert any(key.startswith("datasets/shapes/builds/") for key in stored)


def test_a_step_that_raises_is_retried_then_recorded_and_the_others_finish(
        local_ray: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_TEST_FAULT", "raise")
    suite = _suite(tmp_path, ["majority", "faulty"])
    with pytest.raises(StepsFailed) as failed:
        mmbench.run(suite, models=["majority"], store=tmp_path / "store", limit=40, executor="ray", retries=1,
                    model_files=[FAULTY])
    assert {f.key.split("__")[2] for f in failed.value.failed} == {"faulty"} and len(failed.value.failed) == 2
    assert {r.model for r in failed.value.records} == {"majority"} and len(failed.value.records) == 2
    written = json.loads(Path(failed.value.failed[0].path).read_text())
    assert "InjectedFault" in written["error"] and "injected fault" in written["traceback"]
    assert written["attempts"] == 2


def test_a_step_that_fails_once_succeeds_on_its_retry(local_ray: None, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_TEST_FAULT", f"raise-once:{tmp_path / 'raised'}")
    records = mmbench.run(_suite(tmp_path, ["faulty"], seeds=1), store=tmp_path / "store", limit=40,
                          executor="ray", retries=1, model_files=[FAULTY])
    assert len(records) == 1 and (tmp_path / "raised").exists()


def test_a_worker_killed_mid_step_is_retried(local_ray: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_TEST_FAULT", f"kill-once:{tmp_path / 'killed'}")
    records = mmbench.run(_suite(tmp_path, ["faulty"], seeds=1), store=tmp_path / "store", limit=40,
                          executor="ray", retries=2, model_files=[FAULTY])
    assert len(records) == 1 and (tmp_path / "killed").exists()  # the first worker died by SIGKILL


def test_without_retries_a_killed_worker_fails_its_step_only(local_ray: None, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_TEST_FAULT", f"kill-once:{tmp_path / 'killed'}")
    with pytest.raises(StepsFailed) as failed:
        mmbench.run(_suite(tmp_path, ["faulty", "majority"], seeds=1), models=["majority"], store=tmp_path / "store",
                    limit=40, executor="ray", retries=0, model_files=[FAULTY])
    assert [f.key.split("__")[2] for f in failed.value.failed] == ["faulty"]
    assert [r.model for r in failed.value.records] == ["majority"]


def test_a_killed_driver_started_again_runs_only_the_missing_steps(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The driver (with its own local Ray) is killed once some records are in; the run
    started again finishes the rest and writes no record twice."""
    suite = _suite(tmp_path, ["faulty", "majority"], seeds=3)
    store = tmp_path / "store"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "MMBENCH_TEST_FIT_SLEEP": "2",
           "MMBENCH_HOME": str(tmp_path / "home"),
           # Ray's sockets live in its temp folder, and a socket path has at most 107 bytes: a
           # short folder under the session's tmp path.
           "RAY_TMPDIR": str(tmp_path_factory.mktemp("rayd"))}
    command = [sys.executable, "-m", "mmbench.cli", "run", "--suite", suite, "--store", str(store), "--limit", "40",
               "--models", "majority", "--executor", "ray", "--model-file", FAULTY, "--no-leaderboard", "--quiet"]
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    records = store / "records"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list(records.glob("*.json")) if records.is_dir() else []) < 1:
        time.sleep(0.5)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray it started
    driver.wait()
    first = {p.stem for p in records.glob("*.json")}
    assert 1 <= len(first) < 6, first
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    results = ResultStore(store)
    by_run: dict[str, set[str]] = {}
    for r in results.records():
        by_run.setdefault(r.run, set()).add(r.key)
    assert len(results.records()) == 6 and len(by_run) == 2
    assert first in by_run.values()  # the first run's records stayed as they were


def test_a_task_asks_for_its_threads_a_gpu_on_cuda_and_what_its_model_declares(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from mmbench.models import MODELS
    from mmbench.runner.plan import plan
    from mmbench.runner.ray_executor import requests
    from mmbench.runner.steps import Unit
    from mmbench.runner.suite import parse_suite

    step = next(s for s in plan(parse_suite({"name": "s", "models": ["text-only"], "datasets": ["shapes"]})).evals)
    unit = Unit(step.fit, "fit-key", (("key", step),), {}, "", threads=3, device="cpu")
    assert requests(unit) == {"num_cpus": 3, "num_gpus": 0}
    assert requests(Unit(step.fit, "fit-key", (("key", step),), {}, "", device="cuda:0"))["num_gpus"] == 1
    monkeypatch.setattr(MODELS.get("text-only"), "ray_resources", {"num_cpus": 2, "memory": 1 << 30,
                                                                     "resources": {"big_node": 1}}, raising=False)
    assert requests(unit) == {"num_cpus": 2, "num_gpus": 0, "memory": 1 << 30, "resources": {"big_node": 1}}
