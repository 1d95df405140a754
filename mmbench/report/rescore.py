"""Recompute the metrics of stored RunRecords from their stored per-sample predictions,
without loading any model (after a metric fix, or to check that a store is reproducible).

The store is append-only, so rescored records go to a new store (default: the sibling
folder `<store>-rescored-<UTC time>`), under the same key (same job), with the new metrics,
a new `created` time and `env["rescored_from"]` = {store, key, created} of the original.
Their predictions are copied beside them, so the new store is complete on its own.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmbench.paths import inside, make_dir, remove_tree
from mmbench.runner.store import DamagedPredictions, ResultStore, RunRecord
from mmbench.runner.sweep import sweep_staging

CI_SEED = 0  # the seed the tasks bootstrap with, so an unchanged metric reproduces its CI exactly


@dataclass(frozen=True)
class MetricChange:
    key: str
    metric: str
    old: dict[str, Any]
    new: dict[str, Any]

    def describe(self) -> str:
        parts = [f"{k} {self.old.get(k, math.nan):.4f} -> {self.new.get(k, math.nan):.4f}"
                 for k in ("value", "ci_low", "ci_high") if not _same(self.old.get(k), self.new.get(k))]
        return f"{self.key}: {self.metric}: " + ", ".join(parts)


@dataclass
class RescoreReport:
    out: Path
    written: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (key, why)
    changes: list[MetricChange] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"rescored {len(self.written)} record(s) into {self.out}; "
                 f"{len(self.changes)} metric value(s) changed, {len(self.skipped)} record(s) skipped"]
        lines += [f"  changed  {c.describe()}" for c in self.changes]
        lines += [f"  skipped  {key}: {why}" for key, why in self.skipped]
        return "\n".join(lines)


def _same(a: Any, b: Any, tol: float = 1e-9) -> bool:
    a, b = float("nan") if a is None else float(a), float("nan") if b is None else float(b)
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol


def score_record(record: RunRecord, table: Any, only: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The record's metrics recomputed from its predictions table (`only`: just those, and
    none of the others).

    A task class may define `score_table(table, metric_names) -> {name: Estimate}`;
    otherwise each registered metric is bootstrapped the way the tasks do it.
    """
    from mmbench.metrics import METRICS
    from mmbench.paired import metric_inputs
    from mmbench.stats import Estimate, bootstrap_mean, bootstrap_metric
    from mmbench.tasks import TASKS

    names = [m for m in (only if only is not None else record.metrics) if m in METRICS]
    hook = getattr(TASKS.get(record.task), "score_table", None) if record.task in TASKS else None
    if hook is not None:
        estimates: dict[str, Estimate] = hook(table, tuple(names))
    else:
        targets, scores = metric_inputs(record.task, table)
        clusters = np.asarray(table.column("cluster").to_pylist()) if "cluster" in table.column_names else None
        estimates = {}
        for name in names:
            metric = METRICS.get(name)
            if metric.per_sample is not None:
                estimates[name] = bootstrap_mean(metric.per_sample(targets, scores), seed=CI_SEED,
                                                 clusters=clusters)
            else:
                estimates[name] = bootstrap_metric(metric.fn, targets, scores, seed=CI_SEED,
                                                   resampled=metric.resampled, clusters=clusters)
    # A metric no longer registered keeps its recorded value (unless `only` leaves it out).
    out = dict(record.metrics) if only is None else {}
    for name, est in estimates.items():
        if only is not None and name not in only:
            continue
        out[name] = {**record.metrics.get(name, {}), **est.to_dict(),
                     "higher_is_better": METRICS.get(name).higher_is_better}
    return out


class OutExists(FileExistsError):
    """The folder rescore was to create already holds files."""


def rescore(store: str | Path, out: str | Path | None = None) -> RescoreReport:
    """Rescore every record of `store` into the new store `out`; report metrics that changed.

    All or nothing: the new store is written into a staging folder beside `out` and renamed
    into place at the end, so a failed or killed rescore leaves no partial store.
    """
    from mmbench.objects import ObjectStoreError, is_url
    from mmbench.runner.remote_store import open_store

    if is_url(str(store)) and out is None:
        raise ObjectStoreError(f"rescoring the remote store {store}: name the new (local) store with --out")
    source = open_store(store)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    final = Path(out) if out is not None else source.root.with_name(f"{source.root.name}-rescored-{stamp}")
    if final.resolve() == source.root.resolve():
        raise ValueError("rescore writes new records into another store; --out must differ from --store")
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise OutExists(f"{final} already exists and is not empty; rescore writes a whole new store: "
                        f"name a new folder with --out")
    records = source.records()
    if not records:
        raise FileNotFoundError(f"no run records in {source.root}")
    parent = final.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    sweep_staging(parent, "rescoring")  # what killed rescores left beside their output
    staging = inside(parent / f".{final.name}.rescoring-{os.getpid()}", parent, "staging folder")
    remove_tree(staging, parent, "staging folder")
    make_dir(staging, parent, "staging folder")
    report = RescoreReport(final)
    try:
        _rescore_into(source, ResultStore(staging), records, report)
        if report.written:
            try:  # onto an absent or empty folder only
                os.rename(staging, final)
            except OSError as err:
                raise OutExists(f"{final} was filled by someone else while rescoring ({err}); "
                                f"nothing was written") from None
    finally:
        remove_tree(staging, parent, "staging folder")
    return report


def _rescore_into(source: ResultStore, target: ResultStore, records: list[RunRecord],
                  report: RescoreReport) -> None:
    for record in records:
        if not source.predictions_path(record.key).is_file():
            report.skipped.append((record.key, "no stored predictions"))
            continue
        try:
            table = source.predictions(record.key)
        except DamagedPredictions as err:
            report.skipped.append((record.key, str(err)))
            continue
        try:
            metrics = score_record(record, table)
        except ValueError as err:  # e.g. predictions in a layout no metric can read
            report.skipped.append((record.key, str(err)))
            continue
        for name, new in metrics.items():
            old = record.metrics.get(name, {})
            if not all(_same(old.get(k), new.get(k)) for k in ("value", "ci_low", "ci_high")):
                report.changes.append(MetricChange(record.key, name, old, new))
        provenance = {"store": str(source.root.resolve()), "key": record.key, "created": record.created}
        rescored = dataclasses.replace(record, metrics=metrics, env={**record.env, "rescored_from": provenance},
                                       created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        target.write(rescored, table)
        report.written.append(record.key)
