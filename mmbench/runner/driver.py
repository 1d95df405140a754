"""The only model x dataset x task x seed loop. A job whose record exists is skipped."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mmbench import data
from mmbench.models.config_keys import ModelConfigError
from mmbench.names import check_key, check_name
from mmbench.runner.executors import execute
from mmbench.runner.store import ResultStore, RunRecord
from mmbench.runner.suite import DatasetSpec, ModelSpec, Suite


@dataclass(frozen=True)
class Job:
    benchmark: str
    dataset: DatasetSpec
    task: str
    model: ModelSpec
    seed: int
    limit: int | None

    def key(self, fingerprint: str) -> str:
        from mmbench.models.base import config_hash

        config = effective_config(self.model.name, self.model.config)
        ident = {"dataset": self.dataset.name, "fingerprint": fingerprint, "task": self.task,
                 "model": self.model.name, "config": config_hash(self.model.name, config),
                 "seed": self.seed, "limit": self.limit}
        digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]
        # Checked again here: the key becomes file names in the store.
        parts = (check_name(self.dataset.name, "dataset name"), check_name(self.task, "task name"),
                 check_name(self.model.display, "model label"))
        return check_key("__".join(parts) + f"__s{self.seed}__{digest}")

    def identity(self) -> tuple[Any, ...]:
        """What makes two jobs of one plan the same job (specs hold dicts, so are unhashable)."""
        return (self.dataset.name, self.task, self.model.name, self.model.label,
                json.dumps(self.model.config, sort_keys=True, default=str), self.seed, self.limit)


def effective_config(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The model's full configuration, defaults included, so a changed default is a new job."""
    from mmbench.models import create

    cache_key = (name, json.dumps(config, sort_keys=True, default=str))
    if cache_key not in _CONFIGS:
        try:
            model = create(name, **config)  # constructors are cheap: no weights, no data
        except (TypeError, ValueError) as err:  # a nested key or a value the model refuses
            raise ModelConfigError(f"model {name!r}: config {config} is refused: {err}") from None
        _CONFIGS[cache_key] = model.config() if hasattr(model, "config") else dict(config)
    return _CONFIGS[cache_key]


_CONFIGS: dict[tuple[str, str], dict[str, Any]] = {}


def positive_int(value: Any, what: str) -> int:
    """`value` if it is an int of at least 1 (not a bool), else ValueError naming `what`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


def _names(values: list[str] | str | None, what: str) -> list[str] | None:
    if values is None:
        return None
    items = [values] if isinstance(values, str) else list(values)
    return [check_name(v, what) for v in items]


def plan(suite: Suite, *, models: list[str] | str | None = None,
         datasets: list[str] | str | None = None, seeds: int | None = None,
         limit: int | None = None) -> list[Job]:
    """Expand a suite (optionally narrowed) into jobs, dataset-major; a job listed twice
    (the same model, dataset, task and seed from two entries) is planned once."""
    models, datasets = _names(models, "model name"), _names(datasets, "dataset name")
    if seeds is not None:
        positive_int(seeds, "seeds")
    if limit is not None:
        positive_int(limit, "limit")
    chosen_models = [m for m in suite.models if not models or m.name in models or m.label in models]
    chosen_data = [d for d in suite.datasets if not datasets or d.name in datasets]
    if models:
        known = {m.name for m in suite.models} | {m.label for m in suite.models}
        chosen_models += [ModelSpec(m) for m in dict.fromkeys(models) if m not in known]
    if datasets:
        known_d = {d.name for d in suite.datasets}
        chosen_data += [DatasetSpec(d) for d in dict.fromkeys(datasets) if d not in known_d]
    _check_configs(chosen_models)
    jobs: dict[tuple[Any, ...], Job] = {}
    for d in chosen_data:
        # --seeds on the command line wins over a dataset's own seeds, which win over the suite's.
        seed_list = tuple(range(seeds)) if seeds is not None else (d.seeds or suite.seeds)
        for m in chosen_models:
            if d.models is not None and not models and not ({m.name, m.label} & set(d.models)):
                continue
            for job in (Job(suite.name, d, task, m, s, limit) for task in d.tasks for s in seed_list):
                jobs.setdefault(job.identity(), job)
    return list(jobs.values())


def _check_configs(specs: list[ModelSpec]) -> None:
    """Every model exists and its config names only keys its constructor takes."""
    from mmbench.models import MODELS
    from mmbench.models.config_keys import check_config

    for spec in specs:
        check_config(spec.name, MODELS.get(spec.name), spec.config)


def ensure_dataset(spec: DatasetSpec) -> data.DatasetInfo:
    """The dataset's info; a generated corpus (no raw files needed) is built on first use."""
    if data.exists(spec.name):
        return data.info(spec.name)
    from mmbench.adapters import ADAPTERS

    adapter_name = spec.adapter or spec.name
    if adapter_name in ADAPTERS:
        adapter_cls = ADAPTERS.get(adapter_name)
        if not adapter_cls.needs_root:
            from mmbench.home import datasets_dir
            from mmbench.runner.claims import hold

            home = datasets_dir()
            # One build per dataset at a time: a run started beside this one waits, then reads it.
            with hold(home / f".{spec.name}.build.lock", home):
                if not data.exists(spec.name):
                    data.build(adapter_cls(**spec.options), name=spec.name)
            return data.info(spec.name)
    raise data.DatasetNotFound(f"dataset {spec.name!r} is not ingested; run `mmbench ingest ADAPTER "
                               f"--root PATH --name {spec.name}` first")


def run_job(job: Job, info: data.DatasetInfo, store: ResultStore, threads: int = 1) -> RunRecord:
    """Train/evaluate one job with `threads` torch threads and write its record."""
    import torch

    previous = torch.get_num_threads()
    # A fixed thread count makes a seed's result independent of the machine's core count.
    torch.set_num_threads(threads)
    try:
        return _run_job(job, info, store)
    finally:
        torch.set_num_threads(previous)


def _run_job(job: Job, info: data.DatasetInfo, store: ResultStore) -> RunRecord:
    from mmbench.envinfo import environment
    from mmbench.models import create
    from mmbench.models.base import config_hash
    from mmbench.tasks import TASKS
    from mmbench.tasks.base import limit_rows

    started = time.perf_counter()
    task = TASKS.get(job.task)()
    model = create(job.model.name, **job.model.config)
    dataset = limit_rows(data.load(job.dataset.name), job.limit)
    output = task.evaluate(model, dataset, info, seed=job.seed)
    higher = _directions(output.metrics)
    config = model.config() if hasattr(model, "config") else dict(job.model.config)
    record = RunRecord(
        key=job.key(info.fingerprint), benchmark=job.benchmark, dataset=job.dataset.name,
        dataset_fingerprint=info.fingerprint, task=job.task, eval_split=output.eval_split,
        model=job.model.display, model_config=config,
        config_hash=config_hash(job.model.name, effective_config(job.model.name, job.model.config)),
        seed=job.seed,
        limit=job.limit, n=output.n,
        metrics={k: {**v.to_dict(), "higher_is_better": higher[k]} for k, v in output.metrics.items()},
        primary_metric=task.primary_metric,
        model_info={"registry_name": job.model.name,
                    "num_parameters": int(model.num_parameters()) if hasattr(model, "num_parameters") else None,
                    "fit": output.fit},
        env=environment(),
        timings={**output.timings, "total_s": time.perf_counter() - started},
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    store.write(record, output.predictions)
    return record


def _directions(metrics: dict[str, Any]) -> dict[str, bool]:
    from mmbench.metrics import METRICS

    return {name: METRICS.get(name).higher_is_better if name in METRICS else True for name in metrics}


Progress = Callable[[str], None]


def compatible(jobs: list[Job], log: Progress | None = None) -> list[Job]:
    """Drop jobs whose model lacks what the task needs (a fusion classifier on retrieval)."""
    from mmbench.models import MODELS
    from mmbench.tasks import TASKS
    from mmbench.tasks.base import accepts

    kept, told = [], set()
    for job in jobs:
        if accepts(TASKS.get(job.task), MODELS.get(job.model.name)):
            kept.append(job)
        elif log is not None and (job.model.display, job.task) not in told:
            told.add((job.model.display, job.task))
            log(f"skipped: {job.model.display} cannot run {job.task} (lacks the model capability it needs)")
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


def run(jobs: list[Job], store: ResultStore, *, progress: bool = True, log: Progress | None = None,
        workers: int = 1, threads: int = 1) -> list[RunRecord]:
    """Run every compatible job not already in the store; return the records of all of them,
    in job order, each key once. `workers` processes run jobs side by side, each with
    `threads` torch threads. Other processes may run on the same store at the same time:
    each job is trained by one of them (see `mmbench.runner.claims`)."""
    from tqdm.auto import tqdm

    from mmbench.home import datasets_dir
    from mmbench.runner.sweep import sweep_staging, sweep_store

    say = log or _stderr
    # What killed runs and builds left behind.
    for left in [*sweep_store(store.root), *sweep_staging(datasets_dir())]:
        if log is not None:
            log(f"removed {left.what} {left.path}: {left.why}")
    jobs = compatible(jobs, log)
    infos = {j.dataset.name: ensure_dataset(j.dataset) for j in jobs}
    by_key: dict[str, Job] = {}
    for job in jobs:  # a key listed twice (the same job twice in one suite) is one job
        by_key.setdefault(job.key(infos[job.dataset.name].fingerprint), job)
    done = {key: record for key in by_key if (record := _finished(store, key, say)) is not None}
    pending = {key: job for key, job in by_key.items() if key not in done}
    bar = tqdm(total=len(by_key), initial=len(done), desc="jobs", unit="job", disable=not progress)
    for outcome in execute(pending, infos, store, workers, threads):
        record = done[outcome.key] = outcome.record
        bar.update(1)
        for note in outcome.notes:
            say(note)
        if log is None:
            continue
        if not outcome.ran:
            log(f"{record.model:>22} on {record.dataset}/{record.task} seed {record.seed}: "
                f"finished by another process")
            continue
        primary = record.primary_metric
        log(f"{record.model:>22} on {record.dataset}/{record.task} seed {record.seed}: "
            f"{primary} {record.metrics[primary]['value']:.3f} ({record.timings['total_s']:.1f}s)")
    bar.close()
    return [done[key] for key in by_key]
