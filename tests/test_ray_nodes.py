"""Two Ray nodes on one machine (a head and a second node with its own resources, as
`ray start` makes them; `ray.cluster_utils.Cluster` starts both): a run's steps go to both
nodes, and a run that loses the second node mid-run still finishes, with the records a
local run writes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import mmbench
from mmbench.runner.store import ResultStore

ray = pytest.importorskip("ray", reason="Ray is the optional extra mmbench[ray] (CI installs it)")

FAULTY = str(Path(__file__).parent / "data" / "faulty_model.py") + ":FaultyModel"


def _suite(tmp: Path, seeds: int) -> str:
    path = tmp / f"two-nodes-{seeds}.yaml"
    path.write_text(json.dumps({"name": "two-nodes", "seeds": seeds, "models": ["faulty"], "datasets": ["shapes"]}))
    return str(path)


def _outputs(store: Path) -> dict[str, Any]:
    results = ResultStore(store)
    return {r.key: (r.metrics, results.predictions(r.key).to_pylist()) for r in results.records()}


def test_steps_run_on_both_nodes_and_a_lost_node_does_not_lose_the_run(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path_factory.mktemp("rayn")))  # short: socket paths
    monkeypatch.setenv("MMBENCH_TEST_FIT_SLEEP", "4")  # steps long enough to overlap
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"head": 1}})
    try:
        second = cluster.add_node(num_cpus=1, resources={"second": 1})
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
        nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        assert len(nodes) == 2

        both = tmp_path / "both"
        mmbench.run(_suite(tmp_path, 4), store=both, limit=40, executor="ray", model_files=[FAULTY])
        assert {r.env["ray_node"] for r in ResultStore(both).records()} == nodes

        # Lose the second node while its steps run: Ray retries them on the head.
        lost = tmp_path / "lost"
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["records"] = mmbench.run(_suite(tmp_path, 6), store=lost, limit=40, executor="ray",
                                                 retries=2, model_files=[FAULTY])
            except BaseException as err:  # noqa: BLE001 (reported by the assertion below)
                outcome["error"] = err

        fits = tmp_path / "fits.log"
        monkeypatch.setenv("MMBENCH_TEST_FIT_LOG", str(fits))
        driver = threading.Thread(target=run)
        driver.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(fits.read_text().splitlines() if fits.exists() else []) < 2:
            time.sleep(0.1)  # until a fit runs on each node (each sleeps 4 s)
        cluster.remove_node(second)
        driver.join(timeout=300)
        assert not driver.is_alive() and "error" not in outcome, outcome.get("error")
        assert len(outcome["records"]) == 6
        started = [line.split()[1] for line in fits.read_text().splitlines()]
        assert len(started) > 6 and sorted(set(started)) == [str(s) for s in range(6)]  # one fit ran again
    finally:
        ray.shutdown()
        cluster.shutdown()
    local = tmp_path / "local"
    mmbench.run(_suite(tmp_path, 6), store=local, limit=40, model_files=[FAULTY])
    assert _outputs(lost) == _outputs(local)
