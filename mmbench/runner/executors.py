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
from typing import Protocol

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
            if unit.threads > 1:
                yield _on_a_thread_of_its_own(unit, self.retries)
            else:
                yield steps.attempt(unit, self.retries)  # looked up per call: a test may stand in for it


def _on_a_thread_of_its_own(unit: Unit, retries: int) -> Outcome:
    """`steps.attempt` on a new thread. torch's OpenMP pool belongs to the thread that starts
    it, and GNU OpenMP's pool does not survive a fork: a process forked later from a main
    thread that had run torch with several threads hangs in its first parallel region,
    waiting for threads it does not have. Kept off the main thread, a later run of this
    process (the Python API, a notebook) can still fork its workers."""
    import threading

    outcome: list[Outcome] = []
    raised: list[BaseException] = []

    def work() -> None:
        try:
            outcome.append(steps.attempt(unit, retries))
        except BaseException as err:  # handed to the caller's thread as it is
            raised.append(err)

    worker = threading.Thread(target=work, name="mmbench-unit", daemon=True)  # Ctrl-C ends the process
    worker.start()
    worker.join()
    if raised:
        raise raised[0]
    return outcome[0]


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
