"""Executors decide where units run, never what they compute: `InProcess` runs them one
after another in this process, `LocalPool` in forked worker processes (which inherit the
registry, so models registered at run time, by decorator or --model-file, are there too).
Both take units lazily and yield results as units finish; the driver writes the store.
A unit that raises is tried again up to `retries` times, then comes back as a
UnitFailure: one failing step never ends the run.

The cluster executor (`mmbench.runner.ray_executor`) has the same two methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from mmbench.runner import steps
from mmbench.runner.steps import Unit, UnitFailure, UnitResult

Outcome = UnitResult | UnitFailure


class ExecutorError(ValueError):
    """An executor asked for with options it does not take."""


class Executor(Protocol):
    def run(self, units: Iterable[Unit]) -> Iterator[Outcome]: ...

    @property
    def slots(self) -> int:
        """How many units it runs at once (the driver claims that many ahead)."""
        ...


class InProcess:
    slots = 1

    def __init__(self, retries: int = 0) -> None:
        self.retries = retries

    def run(self, units: Iterable[Unit]) -> Iterator[Outcome]:
        for unit in units:
            yield steps.attempt(unit, self.retries)  # looked up per call: a test may stand in for it


class LocalPool:
    """`workers` forked processes, each unit submitted once a worker is free."""

    def __init__(self, workers: int, retries: int = 0) -> None:
        self.workers, self.retries = workers, retries

    @property
    def slots(self) -> int:
        return self.workers

    def run(self, units: Iterable[Unit]) -> Iterator[Outcome]:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

        context = multiprocessing.get_context("fork")
        pending = iter(units)
        with ProcessPoolExecutor(max_workers=self.workers, mp_context=context) as pool:
            _fork_the_workers_from_a_fresh_thread(pool)
            running: set[Future[Outcome]] = set()
            while True:
                while len(running) < self.workers:
                    unit = next(pending, None)
                    if unit is None:
                        break
                    running.add(pool.submit(steps.attempt, unit, self.retries))
                if not running:
                    return
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()


def make_executor(workers: int, retries: int = 0) -> Executor:
    """In this process for one worker, else a pool of forked processes."""
    from mmbench.runner.plan import positive_int

    return InProcess(retries) if positive_int(workers, "workers") <= 1 else LocalPool(workers, retries)


def _fork_the_workers_from_a_fresh_thread(pool: Any) -> None:
    """Start the pool's workers (a fork pool forks them all at its first task) from a
    thread that never ran torch. torch's OpenMP pool belongs to the thread that started it,
    and GNU OpenMP's pool does not survive a fork: a worker forked from a thread that had
    run torch with several threads (this process's own earlier unit, a user's notebook)
    hangs in its first parallel region, waiting for threads it does not have."""
    import threading

    starter = threading.Thread(target=lambda: pool.submit(int).result(), name="mmbench-fork")
    starter.start()
    starter.join()
