"""Where and under which claim each job runs: in this process or in forked worker
processes, each job under its claim in the store (`mmbench.runner.claims`), so that several
runs on one store train each job once. What a job computes is `runner.run_job`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mmbench.runner.store import ResultStore, RunRecord

if TYPE_CHECKING:
    from mmbench.data import DatasetInfo
    from mmbench.runner.driver import Job


@dataclass(frozen=True)
class Outcome:
    """A job's record, and whether this run trained it or found it finished by another."""

    key: str
    record: RunRecord
    ran: bool
    notes: tuple[str, ...] = ()


def attempt(job: Job, key: str, info: DatasetInfo, store: ResultStore, threads: int,
            wait: bool) -> Outcome | None:
    """Run `job` under its claim; None when another live process holds the claim and
    `wait` is false. A record another process finished first is a success."""
    from mmbench.runner import driver as runner
    from mmbench.runner.claims import claim
    from mmbench.runner.quarantine import move_aside
    from mmbench.runner.store import DamagedRecord, RecordExists

    with claim(store.root, key, wait=wait) as taken:
        if not taken:
            return None
        notes: tuple[str, ...] = ()
        try:
            record = store.find(key)
        except DamagedRecord as err:  # under the claim no one else writes this key: free it
            moved = move_aside(err.path, store.root)
            notes, record = (f"moved the damaged record {err.path} to {moved}",), None
        if record is not None:
            return Outcome(key, record, ran=False)
        try:
            # Looked up at call time, so a test (or a wrapper) may stand in for it.
            return Outcome(key, runner.run_job(job, info, store, threads), ran=True, notes=notes)
        except RecordExists:  # written meanwhile by a process that takes no claims
            return Outcome(key, store.get(key), ran=False, notes=notes)


def _in_worker(job: Job, key: str, info: DatasetInfo, store_root: str, threads: int,
               wait: bool) -> Outcome | None:
    return attempt(job, key, info, ResultStore(store_root), threads, wait)


def execute(jobs: dict[str, Job], infos: dict[str, DatasetInfo], store: ResultStore, workers: int,
             threads: int) -> Iterator[Outcome]:
    """Run jobs (by key) in this process, or in `workers` forked processes (which inherit the
    registry, so models registered at run time, by decorator or --model-file, are there too).
    A job another process is running is set aside, and waited for once the rest are done."""
    if workers <= 1 or len(jobs) <= 1:
        waiting = list(jobs.items())
        while waiting:
            later = []
            for key, job in waiting:
                outcome = attempt(job, key, infos[job.dataset.name], store, threads, wait=False)
                if outcome is None:
                    later.append((key, job))
                else:
                    yield outcome
            if later and len(later) == len(waiting):  # none of them is free: wait for the first
                key, job = later.pop(0)
                outcome = attempt(job, key, infos[job.dataset.name], store, threads, wait=True)
                assert outcome is not None  # a waiting attempt always gets the claim
                yield outcome
            waiting = later
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        set_aside: list[tuple[str, Job]] = []
        for wait in (False, True):
            futures = {pool.submit(_in_worker, job, key, infos[job.dataset.name], str(store.root),
                                   threads, wait): (key, job)
                       for key, job in (jobs.items() if not wait else set_aside)}
            for future in as_completed(futures):
                outcome = future.result()
                if outcome is None:
                    set_aside.append(futures[future])
                else:
                    yield outcome
