"""The driver: runs a plan against a result store and is the only writer of its records.

Evaluate steps whose record exists are skipped; the others are grouped into units (one
fit step and the evaluations that use it) and handed to an executor. Each pending
evaluate step is claimed in the store before its unit is handed out, so that other runs
on the same store never evaluate it at the same time; a step another process holds is
set aside and waited for once everything else is done.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

from mmbench import data
from mmbench.runner.executors import Executor, Outcome, make_executor
from mmbench.runner.plan import EvalStep, Plan
from mmbench.runner.steps import Unit, UnitFailure
from mmbench.runner.store import ResultStore, RunRecord, new_run_id
from mmbench.runner.suite import DatasetSpec

Progress = Callable[[str], None]


def ensure_dataset(spec: DatasetSpec) -> data.DatasetInfo:
    """The dataset's info; a generated corpus (no raw files needed) is built on first use,
    and built again when its adapter's version or options changed since (an ingested corpus
    is the user's to ingest again)."""
    from mmbench.adapters import ADAPTERS
    from mmbench.dataset_sync import pull

    adapter_name = spec.adapter or spec.name
    generated = adapter_name in ADAPTERS and not ADAPTERS.get(adapter_name).needs_root
    pull(spec.name)  # a remote home: the build its name means now (nothing for a local home)
    if data.exists(spec.name) and not (generated and _outdated(spec, adapter_name)):
        return data.info(spec.name)
    if generated:
        from mmbench.home import datasets_dir
        from mmbench.runner.claims import hold

        home = datasets_dir()
        # One build per dataset at a time: a run started beside this one waits, then reads it.
        with hold(home / f".{spec.name}.build.lock", home):
            if not data.exists(spec.name) or _outdated(spec, adapter_name):
                data.build(ADAPTERS.get(adapter_name)(**spec.options), name=spec.name)
        return data.info(spec.name)
    raise data.DatasetNotFound(f"dataset {spec.name!r} is not ingested; run `mmbench ingest ADAPTER "
                               f"--root PATH --name {spec.name}` first")


def _outdated(spec: DatasetSpec, adapter_name: str) -> bool:
    """Whether the stored build of a generated corpus came from another adapter version or options."""
    from mmbench.adapters import ADAPTERS

    info = data.info(spec.name)
    adapter = ADAPTERS.get(adapter_name)(**spec.options)
    return (info.adapter, info.adapter_version, info.options) != (adapter_name, adapter.version, adapter.options())


def compatible(steps: list[EvalStep], log: Progress | None = None) -> list[EvalStep]:
    """Drop steps whose model lacks what the task needs (a fusion classifier on retrieval)."""
    from mmbench.models import facts
    from mmbench.tasks import TASKS
    from mmbench.tasks.base import accepts

    kept, told = [], set()
    for step in steps:
        if accepts(TASKS.get(step.task), facts.capabilities(step.model.name)):
            kept.append(step)
        elif log is not None and (step.model.display, step.task) not in told:
            told.add((step.model.display, step.task))
            log(f"skipped: {step.model.display} cannot run {step.task} (lacks the model capability it needs)")
    return kept


def _finished(store: ResultStore, key: str, warn: Progress) -> RunRecord | None:
    """The stored record of `key`, or None when it is missing or damaged (said so)."""
    from mmbench.runner.store import DamagedRecord

    try:
        return store.find(key)
    except DamagedRecord as err:
        warn(f"damaged record {err.path} ({err.why}); treating it as missing and running its job "
             f"again (see `mmbench doctor`)")
        return None


def _stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr)


def _sweep(store: ResultStore, log: Progress | None) -> None:
    """Remove what killed runs, builds and artifact writes left behind (never a live one's)."""
    from mmbench.home import datasets_dir
    from mmbench.runner.artifacts import ARTIFACTS
    from mmbench.runner.sweep import sweep_staging, sweep_store

    left = [*sweep_store(store.root), *sweep_staging(datasets_dir()),
            *sweep_staging(store.root / ARTIFACTS, "saving")]
    for item in left:
        if log is not None:
            log(f"removed {item.what} {item.path}: {item.why}")


def _units(pending: dict[str, EvalStep], infos: dict[str, data.DatasetInfo], store: ResultStore,
           threads: int, device: str, eval_batch: int | None = None, precision: str = "fp32") -> list[Unit]:
    """The pending steps grouped by the fitted model they use: one unit per fit step, and
    one per model used as it comes (loaded once for all its evaluations)."""
    groups: dict[str, list[tuple[str, EvalStep]]] = {}
    fits: dict[str, Any] = {}
    for key, step in pending.items():
        if step.fit is not None:
            group = step.fit.key(infos[step.fit.train_dataset.name].fingerprint)
            fits[group] = step.fit
        else:
            group = "as-it-comes:" + json.dumps([step.model.name, step.model.config], sort_keys=True,
                                                default=str)
        groups.setdefault(group, []).append((key, step))
    units = []
    for group, members in groups.items():
        fit = fits.get(group)
        names = {s.dataset.name for _, s in members} | ({fit.train_dataset.name} if fit else set())
        units.append(Unit(fit, group if fit else None, tuple(members),
                          {n: infos[n] for n in sorted(names)}, store.location, threads, device,
                          precision=precision, eval_batch=eval_batch))
    return units


def run(plan: Plan | list[EvalStep], store: ResultStore, *, progress: bool = True,
        log: Progress | None = None, workers: int = 1, threads: int | None = None, device: str = "cpu",
        executor: Executor | None = None, run_id: str | None = None, retries: int = 0,
        eval_batch: int | None = None, precision: str = "fp32", prepare_health: bool = True) -> list[RunRecord]:
    """Run every compatible evaluate step not already in the store (and the fit steps they
    need); return the records of all of them, in plan order, each key once. Other processes
    may run on the same store at the same time: each step is run by one of them. Every record
    written is stamped with `run_id` (default: a new one), which the run history groups by.

    A unit that raises is tried again up to `retries` times; if it still fails, its steps
    are recorded as failed (`failures/<run id>/<key>.json`: error and traceback), the other
    steps go on, and at the end StepsFailed names them (its `records` are the others').

    `threads` None: each job gets its share of the cores (`mmbench.runner.threads`), a
    Ray task one thread (the driver does not know the cluster's nodes).

    `prepare_health`: hash every dataset's images for the leaderboard's health section while
    the units run (a leaderboard follows); without it nothing is hashed."""
    from mmbench.arrow_setup import for_a_run

    for_a_run()  # before the workers fork: they inherit pyarrow's state
    say = log or _stderr
    _sweep(store, log)
    steps = compatible(plan.evals if isinstance(plan, Plan) else plan, log)
    infos: dict[str, data.DatasetInfo] = {}
    for step in steps:
        for spec in (step.dataset, *([step.fit.train_dataset] if step.fit else [])):
            if spec.name not in infos:
                infos[spec.name] = ensure_dataset(spec)
    keyed: dict[str, EvalStep] = {}
    for step in steps:  # a key listed twice (the same step from two entries) is one step
        train = infos[step.train_dataset].fingerprint
        keyed.setdefault(step.key(infos[step.dataset.name].fingerprint, train), step)
    done = {key: record for key in keyed if (record := _finished(store, key, say)) is not None}
    pending = {key: step for key, step in keyed.items() if key not in done}
    units = _units(pending, infos, store, threads or 1, device, eval_batch, precision)
    if threads is None:
        threads = _auto_threads(len(units), workers, executor)
        units = [replace(unit, threads=threads) for unit in units]
    fit_steps = sum(1 for u in units if u.fit is not None)
    warming = None
    if units and prepare_health:  # forked before the progress bar's monitor thread and the workers exist
        from mmbench.diagnostics.leakage import warm_health

        warming = warm_health(sorted(infos))
    bar = _progress_bar(len(keyed) + fit_steps, len(done), progress)
    runner = _Claimed(store, done, say, log, run_id or new_run_id())
    # No more workers than units: a lone unit runs in this process (a forked worker beside an
    # idle driver only adds the driver's memory to the run's).
    executor = executor or make_executor(max(1, min(workers, len(units))), retries)
    try:
        while units:
            for result in executor.run(runner.claim(units)):
                bar.update(runner.finish(result))
            units = runner.resume(infos, threads, device, eval_batch, precision)
    finally:
        runner.release_all()
        bar.close()
    if warming is not None:  # after a failure it is a daemon: ended with this process
        warming.join()
    if runner.failed:
        raise StepsFailed(runner.failed, [done[key] for key in keyed if key in done])
    return [done[key] for key in keyed]


class _NoBar:
    def update(self, steps: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, done: int, shown: bool) -> Any:
    """tqdm's bar when it is shown (tqdm is imported only then: 40 ms)."""
    if not shown:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc="steps", unit="step")


def _auto_threads(units: int, workers: int, executor: Executor | None) -> int:
    """Threads per job for this run: the cores shared among the units that run at once."""
    from mmbench.numerics import portable_in_effect
    from mmbench.runner.threads import auto_threads

    if executor is not None:  # Ray: a task asks for its threads as CPUs of whichever node
        return 1
    return auto_threads(min(workers, units), portable=portable_in_effect())


class StepsFailed(RuntimeError):
    """Steps of a run failed on every attempt; the others finished (`records`)."""

    def __init__(self, failed: list[FailedStep], records: list[RunRecord]) -> None:
        super().__init__(failed, records)
        self.failed, self.records = failed, records

    def __str__(self) -> str:
        lines = [f"{len(self.failed)} step(s) failed ({len(self.records)} finished); rerun to try them again:"]
        lines += [f"  {f.key}: {f.error} (after {f.attempts} attempt(s); {f.path})" for f in self.failed]
        return "\n".join(lines)


@dataclass(frozen=True)
class FailedStep:
    key: str
    error: str
    attempts: int
    path: str  # the failure file in the store


class _Claimed:
    """The driver's claims on the evaluate steps it hands out, and the writing of results."""

    def __init__(self, store: ResultStore, done: dict[str, RunRecord], say: Progress,
                 log: Progress | None, run_id: str) -> None:
        self.store, self.done, self.say, self.log = store, done, say, log
        self.run_id = run_id
        self.failed: list[FailedStep] = []
        self.held: dict[int, ExitStack] = {}
        self.set_aside: dict[str, EvalStep] = {}
        self.uids = itertools.count()

    def claim(self, units: list[Unit]) -> Iterator[Unit]:
        """Each unit with only the steps this process claimed and that are not finished,
        numbered so that its result (a copy, from a worker process) finds its claims."""
        from mmbench.runner.quarantine import move_aside
        from mmbench.runner.store import DamagedRecord

        for unit in (replace(u, uid=next(self.uids)) for u in units):
            stack, kept = ExitStack(), []
            for key, step in unit.evals:
                if not stack.enter_context(self.store.claim(key, wait=False)):
                    self.set_aside[key] = step
                    continue
                try:
                    record = self.store.find(key)
                except DamagedRecord as err:  # under the claim no one else writes this key: free it
                    self.say(f"moved the damaged record {err.path} to {move_aside(err.path, self.store.root)}")
                    record = None
                if record is not None:
                    self._done(key, record, "finished by another process")
                else:
                    kept.append((key, step))
            if not kept:
                stack.close()
                continue
            self.held[unit.uid] = stack
            yield replace(unit, evals=tuple(kept))

    def finish(self, result: Outcome) -> int:
        """Write a unit's records (or its failure) and let go of its claims; the steps it
        completed."""
        from mmbench.runner.store import ClaimLost, RecordExists

        unit = result.unit
        if isinstance(result, UnitFailure):
            try:
                return self._failed(result)
            finally:
                self.held.pop(unit.uid).close()
        try:
            if unit.fit is not None and self.log is not None:
                how = {"fitted": f"fitted in {result.fit_s:.1f}s" + (", stored" if result.stored else ""),
                       "loaded": "loaded from its artifact"}.get(result.fit, result.fit)
                self.log(f"{'fit':>22} {unit.fit.model.display} on {unit.fit.train_dataset.name} "
                         f"seed {unit.fit.seed} ({unit.fit.objective}): {how}")
            for item in result.results:
                record = replace(item.record, run=self.run_id)
                try:
                    self.store.write(record, item.predictions)
                    self._done(item.key, record, None)
                except RecordExists:  # written meanwhile by a process that takes no claims
                    self._done(item.key, self.store.get(item.key), "finished by another process")
                except ClaimLost as err:  # a remote claim that ran out: the step is another process's now
                    self.failed.append(FailedStep(item.key, str(err), 1, ""))
                    self.say(f"failed: {item.key}: {err}")
        finally:
            self.held.pop(unit.uid).close()
        return len(result.results) + (1 if unit.fit is not None else 0)

    def _failed(self, failure: UnitFailure) -> int:
        for key, _step in failure.unit.evals:
            path = self.store.write_failure(self.run_id, key, {
                "error": failure.error, "traceback": failure.traceback, "attempts": failure.attempts})
            self.failed.append(FailedStep(key, failure.error, failure.attempts, str(path)))
            self.say(f"failed: {key}: {failure.error} (after {failure.attempts} attempt(s); see {path})")
        return len(failure.unit.evals) + (1 if failure.unit.fit is not None else 0)

    def _done(self, key: str, record: RunRecord, note: str | None) -> None:
        self.done[key] = record
        if self.log is None:
            return
        where = record.dataset if not record.transfer else f"{record.dataset} (trained on {record.trained_on})"
        head = f"{record.model:>22} on {where}/{record.task} seed {record.seed}"
        if note is not None:
            self.log(f"{head}: {note}")
        else:
            primary = record.primary_metric
            self.log(f"{head}: {primary} {record.metrics[primary]['value']:.3f} "
                     f"({record.timings['total_s']:.1f}s)")

    def resume(self, infos: dict[str, data.DatasetInfo], threads: int, device: str,
               eval_batch: int | None, precision: str = "fp32") -> list[Unit]:
        """Units for the steps set aside: wait until one of their holders lets go, then the
        ones still missing are this process's to run."""
        if not self.set_aside:
            return []
        first = next(iter(self.set_aside))
        with self.store.claim(first):  # blocks until its holder is done
            pass
        missing = {k: s for k, s in self.set_aside.items() if k not in self.done}
        self.set_aside = {}
        return _units(missing, infos, self.store, threads, device, eval_batch, precision)

    def release_all(self) -> None:
        for stack in self.held.values():
            stack.close()
        self.held.clear()
