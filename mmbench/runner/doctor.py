"""`mmbench doctor`: find a result store's damaged and orphaned files (records that are
not a readable run record, predictions that are not readable Parquet, predictions
without a record, temporary files and claims of dead processes) and, asked to, move them
aside into `<store>/quarantine/<time>-<pid>/`, where nothing is deleted.

A file whose job a live process holds the claim of is in use and left alone: a running
job writes its predictions before its record.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from mmbench.runner import claims
from mmbench.runner.artifacts import ArtifactStore
from mmbench.runner.quarantine import QUARANTINE, move_aside, quarantine_folder
from mmbench.runner.store import DamagedStore, ResultStore, load_record, read_predictions
from mmbench.runner.sweep import Leftover, staging_leftovers, store_leftovers


@dataclass(frozen=True)
class Problem:
    path: Path
    # "damaged record", "damaged predictions", "orphan predictions", "damaged artifact",
    # "temporary file", "staging folder", "claim"
    kind: str
    why: str
    key: str | None = None  # the job it belongs to, whose claim guards moving it


@dataclass
class DoctorReport:
    root: Path
    problems: list[Problem] = field(default_factory=list)
    moved: list[tuple[Problem, Path | None]] = field(default_factory=list)  # None: removed or gone
    busy: list[Problem] = field(default_factory=list)  # in use by a live process: left in place

    @property
    def unresolved(self) -> list[Problem]:
        done = {p.path for p, _ in self.moved}
        return [p for p in self.problems if p.path not in done]

    def summary(self) -> str:
        lines = []
        for problem in self.problems:
            lines.append(f"{problem.kind:<20} {_rel(problem.path, self.root)}: {problem.why}")
        for problem, target in self.moved:
            where = f"-> {_rel(target, self.root)}" if target else "(removed or gone)"
            lines.append(f"  moved aside: {_rel(problem.path, self.root)} {where}")
        for problem in self.busy:
            lines.append(f"  left in place (its job is running now): {_rel(problem.path, self.root)}")
        if not self.problems:
            lines.append(f"{self.root}: no damaged or orphaned files")
        elif self.unresolved:
            lines.append(f"{len(self.unresolved)} problem(s) in {self.root}; "
                         f"`mmbench doctor --store {self.root} --quarantine` moves them aside "
                         f"into {self.root / QUARANTINE}/")
        else:
            lines.append(f"{len(self.problems)} problem(s) in {self.root}, all moved aside")
        return "\n".join(lines)


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _claimed(root: Path, key: str) -> bool:
    return claims.held(claims.claim_path(root, key))


def scan(root: Path | str) -> DoctorReport:
    """Every damaged or orphaned file of the store at `root` (reads, changes nothing)."""
    from mmbench.objects import ObjectStoreError, is_url

    if is_url(str(root)):
        raise ObjectStoreError(f"`mmbench doctor` checks a store folder; {root} is a remote store, whose "
                               f"records are written create-only and whole (nothing there is half-written)")
    store = ResultStore(root)
    if not store.root.is_dir():
        raise FileNotFoundError(f"no result store at {store.root}")
    report = DoctorReport(store.root)
    records, predictions = store.root / "records", store.root / "predictions"
    keys = set()  # of sound records
    for path in sorted(records.glob("*.json")) if records.is_dir() else []:
        key = path.name.removesuffix(".json")
        try:
            load_record(path, store.root)
            keys.add(key)
        except DamagedStore as err:
            report.problems.append(Problem(path, "damaged record", err.why, key))
    for path in sorted(predictions.glob("*.parquet")) if predictions.is_dir() else []:
        key = path.name.removesuffix(".parquet")
        if key not in keys:
            if not _claimed(store.root, key):  # else its job is running and writes the record next
                report.problems.append(Problem(path, "orphan predictions", "no sound run record of its key", key))
            continue
        try:
            read_predictions(path, store.root)
        except DamagedStore as err:
            report.problems.append(Problem(path, "damaged predictions", err.why, key))
    report.problems += [_from_leftover(left) for left in store_leftovers(store.root)]
    report.problems += _artifact_problems(store.root)
    return report


def _artifact_problems(root: Path) -> list[Problem]:
    """Artifacts that cannot be loaded (untrusted files, no manifest) and the staging folders
    of artifact writes that were killed; those of a fit running now are left alone."""
    artifacts = ArtifactStore(root)
    found = [Problem(artifacts.path(key), "damaged artifact", why, key) for key in artifacts.stored_keys()
             if not _claimed(root, key) and (why := artifacts.problem(key)) is not None]
    return found + [_from_leftover(left) for left in staging_leftovers(artifacts.root, "saving")]


def _from_leftover(left: Leftover) -> Problem:
    return Problem(left.path, left.what, left.why)


def quarantine(report: DoctorReport) -> DoctorReport:
    """Move every problem of `report` aside (claims, which hold no data, are removed)."""
    root, folder = report.root, quarantine_folder(report.root)
    for problem in report.problems:
        guard: contextlib.AbstractContextManager[bool]
        if problem.kind == "claim":
            guard = claims.hold(problem.path, root, wait=False)  # releasing it removes it
        elif problem.key is not None:  # under the job's claim: no run reads or replaces it meanwhile
            guard = claims.claim(root, problem.key, wait=False)
        else:  # a dead writer's temporary file: no job to guard
            guard = contextlib.nullcontext(True)
        with guard as taken:
            if not taken:
                report.busy.append(problem)
            elif problem.kind == "claim" or not _still(problem, root):
                report.moved.append((problem, None))
            else:
                report.moved.append((problem, move_aside(problem.path, root, folder)))
    return report


def _still(problem: Problem, root: Path) -> bool:
    """Whether the problem is still there, checked again under its job's claim (a run may
    have finished the job since the scan)."""
    if not problem.path.exists():
        return False
    if problem.kind == "orphan predictions":
        try:
            load_record(root / "records" / f"{problem.key}.json", root)
            return False
        except (FileNotFoundError, DamagedStore):
            return True
    if problem.kind == "damaged artifact" and problem.key is not None:
        return ArtifactStore(root).problem(problem.key) is not None
    if problem.kind == "staging folder":
        return True
    try:
        if problem.kind == "damaged record":
            load_record(problem.path, root)
        elif problem.kind == "damaged predictions":
            read_predictions(problem.path, root)
    except DamagedStore:
        return True
    return problem.kind == "temporary file"


def doctor(root: Path | str, *, move: bool = False) -> DoctorReport:
    """Scan the store at `root`; with `move`, quarantine what was found."""
    report = scan(root)
    return quarantine(report) if move and report.problems else report
