"""The only model x dataset x task x seed loop. A job whose record exists is skipped."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mmbench import data
from mmbench.results import ResultStore, RunRecord
from mmbench.suite import DatasetSpec, ModelSpec, Suite


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
        return f"{self.dataset.name}__{self.task}__{self.model.display}__s{self.seed}__{digest}"


def effective_config(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The model's full configuration, defaults included, so a changed default is a new job."""
    from mmbench.models import create

    cache_key = (name, json.dumps(config, sort_keys=True, default=str))
    if cache_key not in _CONFIGS:
        model = create(name, **config)  # constructors are cheap: no weights, no data
        _CONFIGS[cache_key] = model.config() if hasattr(model, "config") else dict(config)
    return _CONFIGS[cache_key]


_CONFIGS: dict[tuple[str, str], dict[str, Any]] = {}


def plan(suite: Suite, *, models: list[str] | None = None, datasets: list[str] | None = None,
         seeds: int | None = None, limit: int | None = None) -> list[Job]:
    """Expand a suite (optionally narrowed) into jobs, dataset-major."""
    chosen_models = [m for m in suite.models if not models or m.name in models or m.label in models]
    chosen_data = [d for d in suite.datasets if not datasets or d.name in datasets]
    if models:
        known = {m.name for m in suite.models} | {m.label for m in suite.models}
        chosen_models += [ModelSpec(m) for m in models if m not in known]
    if datasets:
        known_d = {d.name for d in suite.datasets}
        chosen_data += [DatasetSpec(d) for d in datasets if d not in known_d]
    jobs = []
    for d in chosen_data:
        # --seeds on the command line wins over a dataset's own seeds, which win over the suite's.
        seed_list = tuple(range(seeds)) if seeds is not None else (d.seeds or suite.seeds)
        for m in chosen_models:
            if d.models is not None and not models and not ({m.name, m.label} & set(d.models)):
                continue
            jobs += [Job(suite.name, d, task, m, s, limit) for task in d.tasks for s in seed_list]
    return jobs


def ensure_dataset(spec: DatasetSpec) -> data.DatasetInfo:
    """The dataset's info; a generated corpus (no raw files needed) is built on first use."""
    if data.exists(spec.name):
        return data.info(spec.name)
    from mmbench.adapters import ADAPTERS

    adapter_name = spec.adapter or spec.name
    if adapter_name in ADAPTERS:
        adapter_cls = ADAPTERS.get(adapter_name)
        if not adapter_cls.needs_root:
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


def _in_worker(job: Job, info: data.DatasetInfo, store_root: str, threads: int) -> RunRecord:
    return run_job(job, info, ResultStore(store_root), threads)


def _execute(jobs: list[Job], infos: dict[str, data.DatasetInfo], store: ResultStore, workers: int,
             threads: int) -> Iterator[RunRecord]:
    """Run jobs in this process, or in `workers` forked processes (which inherit the registry,
    so models registered at run time, by decorator or --model-file, are there too)."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield run_job(job, infos[job.dataset.name], store, threads)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_in_worker, job, infos[job.dataset.name], str(store.root), threads)
                   for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def run(jobs: list[Job], store: ResultStore, *, progress: bool = True, log: Progress | None = None,
        workers: int = 1, threads: int = 1) -> list[RunRecord]:
    """Run every compatible job not already in the store; return the records of all of them,
    in job order. `workers` processes run jobs side by side, each with `threads` torch threads."""
    from tqdm.auto import tqdm

    jobs = compatible(jobs, log)
    infos = {j.dataset.name: ensure_dataset(j.dataset) for j in jobs}
    keys = [job.key(infos[job.dataset.name].fingerprint) for job in jobs]
    done = {key: store.get(key) for key in keys if store.has(key)}
    pending = [job for job, key in zip(jobs, keys, strict=True) if key not in done]
    bar = tqdm(total=len(jobs), initial=len(done), desc="jobs", unit="job", disable=not progress)
    for record in _execute(pending, infos, store, workers, threads):
        done[record.key] = record
        bar.update(1)
        if log is not None:
            primary = record.primary_metric
            log(f"{record.model:>22} on {record.dataset}/{record.task} seed {record.seed}: "
                f"{primary} {record.metrics[primary]['value']:.3f} ({record.timings['total_s']:.1f}s)")
    bar.close()
    return [done[key] for key in keys]
