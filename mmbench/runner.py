"""The only model x dataset x task x seed loop. A job whose record exists is skipped."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
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

        ident = {"dataset": self.dataset.name, "fingerprint": fingerprint, "task": self.task,
                 "model": self.model.name, "config": config_hash(self.model.name, self.model.config),
                 "seed": self.seed, "limit": self.limit}
        digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.dataset.name}__{self.task}__{self.model.display}__s{self.seed}__{digest}"


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


def run_job(job: Job, info: data.DatasetInfo, store: ResultStore) -> RunRecord:
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
        config_hash=config_hash(job.model.name, job.model.config), seed=job.seed,
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


def run(jobs: list[Job], store: ResultStore, *, progress: bool = True,
        log: Progress | None = None) -> list[RunRecord]:
    """Run every job not already in the store; return the records of all jobs."""
    from tqdm.auto import tqdm

    infos = {j.dataset.name: ensure_dataset(j.dataset) for j in jobs}
    records = []
    bar = tqdm(jobs, desc="jobs", unit="job", disable=not progress)
    for job in bar:
        info = infos[job.dataset.name]
        key = job.key(info.fingerprint)
        bar.set_postfix_str(f"{job.model.display} on {job.dataset.name} s{job.seed}")
        if store.has(key):
            records.append(store.get(key))
            continue
        record = run_job(job, info, store)
        if log is not None:
            primary = record.primary_metric
            log(f"{record.model:>16} on {record.dataset}/{record.task} seed {record.seed}: "
                f"{primary} {record.metrics[primary]['value']:.3f} ({record.timings['total_s']:.1f}s)")
        records.append(record)
    return records
