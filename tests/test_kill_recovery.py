"""A run, a build or a rescore killed with SIGKILL at any point leaves nothing behind once
the next one starts: temporary files, claims and staging folders of dead processes are
removed, never those of a live one (issue 9, point 5)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

import mmbench
from mmbench import data
from mmbench.adapters.shapes import ShapesAdapter
from mmbench.models.majority import MajorityClass
from mmbench.report.rescore import rescore
from mmbench.runner import driver
from mmbench.runner.doctor import scan
from mmbench.runner.store import ResultStore
from mmbench.runner.suite import load_suite

TINY = str(Path(__file__).parent / "data" / "tiny_suite.yaml")


def killed_at(owner: Any, attr: str, after: bool, work: Callable[[], object]) -> int:
    """Run `work` in a forked child that SIGKILLs itself at its first call of owner.attr,
    before or after the real call; the child's pid, once it is dead and reaped."""
    child = os.fork()
    if child == 0:
        try:
            real = getattr(owner, attr)

            def hooked(*args: Any, **kwargs: Any) -> Any:
                if not after:
                    os.kill(os.getpid(), signal.SIGKILL)
                result = real(*args, **kwargs)
                os.kill(os.getpid(), signal.SIGKILL)
                return result

            setattr(owner, attr, hooked)
            work()
        finally:
            os._exit(3)  # only reached when the kill point never came
    _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    return child


def leftovers(root: Path) -> list[Path]:
    """Hidden files of the store and claim files: what only an unfinished write leaves."""
    return sorted(p for p in root.rglob("*") if p.is_file() and (p.name.startswith(".") or p.parent.name == "claims"))


def run_tiny(store: Path) -> list[Any]:
    return mmbench.run(TINY, models=["majority"], store=store)


@pytest.fixture
def built(isolated_home: Path) -> Iterator[None]:
    driver.ensure_dataset(load_suite(TINY).datasets[0])  # so the kill lands in the run, not the build
    # and not in the first write of the home's model-facts cache (mmbench.models.facts)
    run_tiny(isolated_home / "warm-up-store")
    yield


@pytest.mark.parametrize(("owner", "attr", "after"), [
    (MajorityClass, "fit", False),  # training, under the job's claim
    (pq, "write_table", True),  # predictions written to their temporary file
    (os, "replace", True),  # predictions in place, record not yet written
    (os, "link", False),  # record written to its temporary file
    (os, "link", True),  # record in place, its temporary file not yet removed
], ids=["fit", "predictions-temp", "predictions-in-place", "record-temp", "record-linked"])
def test_a_run_killed_anywhere_leaves_nothing_after_the_next(built: None, tmp_path: Path, owner: Any,
                                                             attr: str, after: bool) -> None:
    store = tmp_path / "store"
    killed_at(owner, attr, after, lambda: run_tiny(store))
    assert leftovers(store)  # the kill left something to clean up
    records = run_tiny(store)
    assert leftovers(store) == []
    assert sorted(p.name for p in (store / "records").iterdir()) == sorted(f"{r.key}.json" for r in records)
    results = ResultStore(store)
    for record in records:
        assert results.get(record.key) == record
        assert len(results.predictions(record.key)) == record.n
    assert scan(store).problems == []


@pytest.mark.parametrize(("owner", "attr"), [
    (data._Split, "take"),  # shards being written
    (data._Split, "seal"),  # shards named, info not written
    (pathlib.Path, "write_text"),  # info written, the folder not yet renamed into place
], ids=["chunk", "sealed", "info-written"])
def test_a_build_killed_anywhere_leaves_no_staging_folder(isolated_home: Path, owner: Any, attr: str) -> None:
    home = isolated_home / "datasets"
    pid = killed_at(owner, attr, True, lambda: data.build(ShapesAdapter(scale=0.03), name="victim"))
    assert (home / f".victim.building-{pid}").is_dir()
    data.build(ShapesAdapter(scale=0.03), name="other")  # any next build sweeps
    assert sorted(p.name for p in home.iterdir()) == ["other"]
    data.build(ShapesAdapter(scale=0.03), name="victim")
    assert len(data.load("victim")["test"]) == data.info("victim").splits["test"]


def test_a_killed_rescore_leaves_no_store_and_its_staging_is_swept(built: None, tmp_path: Path) -> None:
    store, out = tmp_path / "store", tmp_path / "rescored"
    run_tiny(store)
    pid = killed_at(ResultStore, "write", True, lambda: rescore(store, out))
    assert not out.exists() and (tmp_path / f".rescored.rescoring-{pid}").is_dir()
    assert len(rescore(store, out).written) == 2
    assert not list(tmp_path.glob(".*"))


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_only_dead_processes_leftovers_are_removed(built: None, tmp_path: Path) -> None:
    store = tmp_path / "store"
    live = subprocess.Popen(["sleep", "60"])
    try:
        time.sleep(0.05)
        dead, hour_ago = _dead_pid(), time.time() - 3600
        records, predictions = store / "records", store / "predictions"
        records.mkdir(parents=True)
        predictions.mkdir()
        keep = [records / f".k1.json.{live.pid}.abcdefgh", predictions / f".k1.parquet.{live.pid}.x_1",
                records / ".k3.json.abcdefgh"]  # a writer of unknown pid, recent
        drop = [records / f".k2.json.{dead}.abcdefgh", predictions / f".k2.parquet.{dead}.x_1",
                records / f".k4.json.{live.pid}.abcdefgh",  # older than the live process: pid reused
                records / ".k5.json.abcdefgh", predictions / ".k5.parquet.tmp"]  # unknown pid, old
        for path in keep + drop:
            path.write_text("partial")
        for path in drop[2:]:
            os.utime(path, (hour_ago, hour_ago))
        home = Path(os.environ["MMBENCH_HOME"]) / "datasets"
        building, stale = home / f".x.building-{live.pid}", home / f".y.building-{dead}"
        building.mkdir()
        stale.mkdir()
        (stale / "info.json").write_text("{}")

        run_tiny(store)
        assert all(p.exists() for p in keep), keep
        assert not any(p.exists() for p in drop), drop
        assert building.is_dir() and not stale.exists()
        stale.mkdir()
        data.build(ShapesAdapter(scale=0.03), name="z")  # a build sweeps too
        assert building.is_dir() and not stale.exists()
    finally:
        live.kill()
        live.wait()


def test_a_live_claim_is_kept_and_a_dead_ones_is_removed(tmp_path: Path) -> None:
    from mmbench.runner import claims
    from mmbench.runner.sweep import sweep_store

    (tmp_path / "claims").mkdir()
    stale = tmp_path / "claims" / "gone.lock"
    stale.write_text('{"pid": 1}')
    with claims.claim(tmp_path, "running"):
        removed = sweep_store(tmp_path)
        assert [r.path.name for r in removed] == ["gone.lock"]
        assert claims.claim_path(tmp_path, "running").exists()
    assert list((tmp_path / "claims").iterdir()) == []  # released: removed
