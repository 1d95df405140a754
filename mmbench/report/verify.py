"""`mmbench verify DIR`: run the suite behind a leaderboard again, here, into a new store,
and report every cell of its CSV that comes out different, and by how much.

`mmbench run` writes `suite.json` beside the leaderboard: the suite and the options it
ran with (seeds, limit, threads, portable mode). A leaderboard made from a clean store
with portable mode on reproduces bit for bit on any x86-64 CPU; without it, cells may
move with the CPU's kernels, and the report says by how much and whether the value here
still lies inside the committed interval.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.report.diagnostics import MEASURED_HERE

RUN_FILE = "suite.json"
CELL_KEY = ("dataset", "train_dataset", "task", "model", "view", "metric")
CELL_VALUES = ("value", "ci_low", "ci_high", "n", "seeds")


class VerifyError(ValueError):
    """The folder is not a leaderboard that `mmbench run` wrote (no suite.json or CSV)."""


@dataclass(frozen=True)
class CellChange:
    cell: tuple[str, ...]
    committed: dict[str, str]
    here: dict[str, str] | None  # None: the cell is gone

    def describe(self) -> str:
        # dataset/task/model[/view]/metric: the clean view goes unnamed
        shown = [part for i, part in enumerate(self.cell) if i != 1 and not (i == 4 and part == "clean")]
        name = "/".join(shown) + (
            f" (trained on {self.cell[1]})" if self.cell[1] != self.cell[0] else "")
        if self.here is None:
            return f"{name}: committed {self.committed['value']}, missing here"
        delta = float(self.here["value"]) - float(self.committed["value"])
        inside = float(self.committed["ci_low"]) <= float(self.here["value"]) <= float(self.committed["ci_high"])
        return (f"{name}: committed {self.committed['value']} [{self.committed['ci_low']}, "
                f"{self.committed['ci_high']}], here {self.here['value']} (delta {delta:+.3f}, "
                f"{'inside' if inside else 'OUTSIDE'} the committed interval)")


@dataclass
class VerifyReport:
    folder: Path
    cells: int = 0
    changed: list[CellChange] = field(default_factory=list)
    new: list[tuple[str, ...]] = field(default_factory=list)  # cells here the board lacks

    @property
    def ok(self) -> bool:
        return not self.changed and not self.new

    def summary(self) -> str:
        lines = [f"{self.folder}: {self.cells - len(self.changed)} of {self.cells} cell(s) reproduced exactly"]
        lines += [f"  differs  {c.describe()}" for c in self.changed]
        lines += [f"  new here {'/'.join(cell)}" for cell in self.new]
        return "\n".join(lines)


def run_options(folder: Path | str) -> dict[str, Any]:
    """What `mmbench run` recorded beside the leaderboard in `folder`."""
    path = Path(folder) / RUN_FILE
    try:
        options = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VerifyError(f"{path} is missing: verify reads the suite a leaderboard came from "
                          f"there (`mmbench run` writes it)") from None
    except ValueError as err:
        raise VerifyError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(options, dict) or not isinstance(options.get("suite"), str):
        raise VerifyError(f"{path} does not name a suite")
    return options


def write_run_options(folder: Path, options: dict[str, Any]) -> Path:
    """Record beside a leaderboard the suite and options it was made with (whole or not at all)."""
    import os

    from mmbench.paths import inside, remove_file
    from mmbench.runner.store import open_temp

    target = inside(folder / RUN_FILE, folder, "leaderboard file")
    fd, tmp = open_temp(target)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(options, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, target)
    finally:
        remove_file(tmp, folder, "temporary file")
    return target


def _cells(text: str) -> dict[tuple[str, ...], dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    # A leaderboard written before views has no view column: every cell was the clean view.
    # Timings and memory are this machine's, not numbers that must hold elsewhere.
    return {tuple(row.get(k, "clean") if k == "view" else row[k] for k in CELL_KEY):
            {k: row[k] for k in CELL_VALUES} for row in rows if row["metric"] not in MEASURED_HERE}


def verify(folder: Path | str, *, store: Path | str | None = None, workers: int = 1,
           log: Any = None) -> VerifyReport:
    """Run the leaderboard's suite into `store` (default: a new temporary one), render its
    CSV the same way, and compare cell by cell at the printed precision."""
    from mmbench.api import run
    from mmbench.report import leaderboard as board
    from mmbench.report.compare import store_reader
    from mmbench.report.leak_free import leaked_ids
    from mmbench.runner.remote_store import open_store

    folder = Path(folder)
    options = run_options(folder)
    csv_path = folder / "leaderboard.csv"
    if not csv_path.is_file():
        raise VerifyError(f"{csv_path} is missing")
    committed = _cells(csv_path.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="mmbench-verify-") as scratch:
        target = Path(store) if store is not None else Path(scratch) / "results"
        run(options["suite"], models=options.get("models"), datasets=options.get("datasets"),
            seeds=options.get("seeds"), limit=options.get("limit"), store=target, log=log,
            workers=workers, threads=_threads(options.get("threads")),
            device=str(options.get("device") or "cpu"), portable=bool(options.get("portable")),
            precision=str(options.get("precision") or "fp32"))
        results = open_store(target)
        records, reader = results.records(), store_reader(results)
        built = board.build(records, reader, leaked_ids(records))
        here = _cells(board.render_csv(built.rows, built.diagnostics))
    report = VerifyReport(folder, cells=len(committed))
    for cell, values in committed.items():
        if here.get(cell) != values:
            report.changed.append(CellChange(cell, values, here.get(cell)))
    report.new = [cell for cell in here if cell not in committed]
    return report


def _threads(recorded: Any) -> int | None:
    """The run's thread count as suite.json says it; None (chosen per machine) when it does not."""
    return None if recorded is None else int(recorded)
