"""The history of one store: its runs (one `mmbench run` invocation each, `RunRecord.run`),
suite by suite, and for every run what moved against the runs before it, with the paired
tests of `report.compare`. Reads only.

A finished step is never run again, so a later run of a suite writes a cell again only when
something behind it changed: a dataset rebuilt, a model configured differently, new seeds.
Each evaluation a run wrote is compared with the same evaluation (dataset, task, model,
training corpus, seed) in the most recent earlier run of the suite that wrote it; a run that
only adds seeds or models has nothing to compare. Only clean evaluations are compared; the
diagnostic views follow their model."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from mmbench.report.compare import Comparison, Source, compare_sources
from mmbench.report.leaderboard import PredictionsReader
from mmbench.runner.store import RunRecord
from mmbench.stats import N_BOOTSTRAP

LEGACY_RUN = "before run ids"  # records written before the driver named its runs

Cell = tuple[str, str, str, str, int]  # (dataset, task, model, training corpus, seed)


@dataclass(frozen=True)
class Run:
    suite: str
    run: str
    started: str  # the earliest `created` of its records
    git_sha: str  # of the first record ("" when not recorded)
    records: tuple[RunRecord, ...]

    @property
    def cells(self) -> set[Cell]:
        return {_cell(r) for r in self.records if r.view == "clean"}


@dataclass(frozen=True)
class Change:
    """One run of a suite against the earlier runs that wrote the same cells."""

    suite: str
    run: str
    since: tuple[str, ...]  # the earlier runs the compared cells come from
    comparison: Comparison


def _cell(record: RunRecord) -> Cell:
    return (record.dataset, record.task, record.model, record.trained_on, record.seed)


def runs(records: list[RunRecord]) -> list[Run]:
    """Every run of every suite, by suite, oldest first."""
    grouped: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for r in records:
        grouped[(r.benchmark, r.run or LEGACY_RUN)].append(r)
    out = []
    for (suite, run), mine in grouped.items():
        mine.sort(key=lambda r: (r.created, r.key))
        out.append(Run(suite, run, mine[0].created, str(mine[0].env.get("git_sha", "")), tuple(mine)))
    # Legacy records predate every named run; named runs sort by their start.
    return sorted(out, key=lambda r: (r.suite, r.run != LEGACY_RUN, r.started, r.run))


def history(records: list[RunRecord], read: PredictionsReader, *, seed: int = 0,
            n_boot: int = N_BOOTSTRAP) -> list[Change]:
    """For every run that wrote a cell an earlier run of its suite had written too: the
    comparison of the two (A: the earlier run, B: this one), Holm-corrected within the run."""
    by_suite: dict[str, list[Run]] = defaultdict(list)
    for run in runs(records):
        by_suite[run.suite].append(run)
    out = []
    for suite, suite_runs in sorted(by_suite.items()):
        for i, later in enumerate(suite_runs):
            before: dict[Cell, Run] = {}
            for earlier in suite_runs[:i]:  # oldest first: the latest earlier run wins
                before.update(dict.fromkeys(earlier.cells & later.cells, earlier))
            if not before:
                continue
            a = [r for cell, earlier in before.items() for r in earlier.records
                 if r.view == "clean" and _cell(r) == cell]
            b = [r for r in later.records if r.view == "clean" and _cell(r) in before]
            since = tuple(sorted({earlier.run for earlier in before.values()}))
            comparison = compare_sources(Source(" + ".join(since), a, read), Source(later.run, b, read),
                                         force=True, seed=seed, n_boot=n_boot)
            out.append(Change(suite, later.run, since, comparison))
    return out
