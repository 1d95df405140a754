"""Torch threads out of the box: the cores shared among the jobs that run at once."""

import os
from pathlib import Path

import pytest

import mmbench
from mmbench import numerics
from mmbench.runner import threads
from mmbench.runner.threads import auto_threads

TINY = str(Path(__file__).parent / "data" / "tiny_suite.yaml")


def test_the_cores_are_shared_among_the_jobs_side_by_side() -> None:
    assert auto_threads(1, portable=False, cores=8) == 8
    assert auto_threads(3, portable=False, cores=8) == 2
    assert auto_threads(16, portable=False, cores=8) == 1
    assert auto_threads(0, portable=False, cores=2) == 2
    assert auto_threads(1, portable=True, cores=8) == 1


def test_the_affinity_mask_bounds_the_cores() -> None:
    assert 1 <= threads.available_cores() <= (os.cpu_count() or 1)


def test_a_single_job_gets_every_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "available_cores", lambda: 3)
    record = mmbench.run(TINY, models=["majority"], seeds=1, store=tmp_path, workers=2)[0]
    assert record.env["torch_threads"] == 3  # one unit: the second worker would sit idle


def test_parallel_jobs_share_the_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    records = mmbench.run(TINY, models=["majority", "text-only"], seeds=1, store=tmp_path, workers=2)
    assert {r.model for r in records} == {"majority", "text-only"}
    assert [r.env["torch_threads"] for r in records] == [2, 2]


def test_a_portable_run_keeps_one_thread_and_a_named_count_wins(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    monkeypatch.setattr(numerics, "portable_in_effect", lambda: True)
    portable = mmbench.run(TINY, models=["majority"], seeds=1, store=tmp_path / "a")[0]
    assert portable.env["torch_threads"] == 1
    named = mmbench.run(TINY, models=["majority"], seeds=1, store=tmp_path / "b", threads=2)[0]
    assert named.env["torch_threads"] == 2


def test_workers_forked_after_multithreaded_torch_work_in_this_process_do_not_hang(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GNU OpenMP's thread pool does not survive a fork: forked from this (main) thread after
    # it ran torch with several threads, the second run's workers would wait forever.
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    alone = mmbench.run(TINY, models=["text-only"], seeds=1, store=tmp_path / "a", workers=1)[0]
    assert alone.env["torch_threads"] == 4  # run here, on the main thread
    forked = mmbench.run(TINY, models=["text-only", "image-only"], seeds=1, store=tmp_path / "b", workers=2)
    assert [r.env["torch_threads"] for r in forked] == [2, 2]
