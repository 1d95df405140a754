"""Where a build's chunks run: in the building process, or in forked worker processes
that check images and write shards while the building process runs the adapter.
Outcomes come back in chunk order either way."""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from mmbench.adapters.base import Item, Rejection
from mmbench.ingest_chunk import ChunkJob, Outcome, import_libraries, locate, run_chunk


def usable_workers(workers: int) -> int:
    """Worker processes to use: fork is needed (workers inherit the adapter's registry), and a
    daemonic process (a worker of some pool) may not start children."""
    import multiprocessing

    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods() \
            or multiprocessing.current_process().daemon:
        return 1
    return workers


# Allocations between young-generation collections while building (Python's default: 700).
BUILD_GC_THRESHOLD = 100_000


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage less often while building: a build allocates millions of short-lived,
    acyclic objects, and each collection of the old generation walks every live one (the
    adapter's parsed annotations too). Objects alive before the build are frozen out of
    collections altogether (unless the caller froze some), which also spares forked
    workers from touching, and so copying, the memory they inherit."""
    threshold = gc.get_threshold()
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    gc.set_threshold(BUILD_GC_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if freeze:
            gc.unfreeze()


@contextmanager
def worker_pool(workers: int) -> Iterator[Any]:
    """A pool of `workers` forked processes, started now, or None for no workers.

    Started before the adapter reads anything, with the libraries a chunk needs imported:
    a worker forked later would inherit the adapter's parsed annotations, and one forked
    earlier would import `datasets` again on its first chunk.
    """
    if workers <= 1:
        yield None
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import_libraries()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pool.submit(int).result()  # with fork, the first task starts every worker
        yield pool


def run_chunks(jobs: Iterator[ChunkJob], pool: Any, workers: int
               ) -> Iterator[tuple[ChunkJob, list[Outcome]]]:
    """(job, outcomes) in job order; chunks run here or in the pool's processes while this
    one goes on reading the corpus (at most two chunks per worker in flight)."""
    if pool is None:
        for job in jobs:
            yield job, run_chunk(job)
        return
    pending: deque[tuple[ChunkJob, Future[list[Outcome]]]] = deque()
    for job in jobs:
        pending.append((job, pool.submit(run_chunk, job)))
        if len(pending) >= 2 * workers:
            done, future = pending.popleft()
            yield done, _result(done, future)
    while pending:
        done, future = pending.popleft()
        yield done, _result(done, future)


class WorkerDied(RuntimeError):
    """A worker process ended abruptly (killed, out of memory, a crash in native code)."""


def _result(job: ChunkJob, future: Future[list[Outcome]]) -> list[Outcome]:
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool:
        first, last = _where(job.items[0]), _where(job.items[-1])
        raise WorkerDied(f"a worker process died while checking the chunk of split "
                         f"{job.split!r} from {first} to {last} (killed, out of memory, or a "
                         f"crash in an image library); `--workers 1` runs it in this process, "
                         f"where the error shows") from None


def _where(item: Item) -> str:
    file, locator = (item.file, item.locator) if isinstance(item, Rejection) else locate(item)
    return f"{file} {locator}".strip()
