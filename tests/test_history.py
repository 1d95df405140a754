"""The run history of a store: runs grouped by the id the driver stamps on their records,
and each cell a later run wrote again compared with the earlier run's, with paired tests."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow as pa

import mmbench
from mmbench.report.compare import store_reader
from mmbench.report.history import LEGACY_RUN, history, runs
from mmbench.runner.store import ResultStore, RunRecord
from tests.test_leaderboard import _record


def _two_runs() -> tuple[list[RunRecord], dict[str, pa.Table]]:
    """Run r1 scores three models on `toy`; run r2 writes `strong` again, now as good as
    `weaker` (a regression), and `weak` again unchanged."""
    tables: dict[str, pa.Table] = {}
    records = []
    for model in ("strong", "weak", "weaker"):
        record, table = _record("toy", model, 0, created="2026-01-01T00:00:00Z")
        records.append(replace(record, run="r1"))
        tables[record.key] = table
    worse, worse_table = _record("toy", "weaker", 0, created="2026-02-01T00:00:00Z")
    same, same_table = _record("toy", "weak", 0, created="2026-02-01T00:00:00Z")
    for record, table in ((replace(worse, model="strong"), worse_table), (same, same_table)):
        later = replace(record, key=record.key + "-r2", run="r2")
        records.append(later)
        tables[later.key] = table
    return records, tables


def test_runs_are_grouped_by_their_id_oldest_first_and_legacy_records_first() -> None:
    records, _ = _two_runs()
    legacy = replace(records[0], key="old", run="", created="2027-01-01T00:00:00Z")
    found = runs([*records, legacy])
    assert [(r.run, len(r.records)) for r in found] == [(LEGACY_RUN, 1), ("r1", 3), ("r2", 2)]


def test_a_cell_written_again_is_compared_with_the_earlier_run_and_a_regression_moves() -> None:
    records, tables = _two_runs()
    changes = history(records, lambda r: tables[r.key])
    assert [(c.run, c.since) for c in changes] == [("r2", ("r1",))]
    rows = {(r.model, r.metric): r for r in changes[0].comparison.rows}
    strong, weak = rows[("strong", "accuracy")], rows[("weak", "accuracy")]
    assert strong.delta < -0.2 and strong.p_holm < 0.05  # moved, and the test says so
    assert weak.delta == 0 and weak.p_holm > 0.5
    assert ("weaker", "accuracy") not in rows  # written once: nothing to compare


def test_the_driver_stamps_one_run_id_on_the_records_of_one_invocation(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(json.dumps({"name": "s", "seeds": 1, "models": ["majority", "text-only"],
                                 "datasets": ["shapes"], "train": {"shapes": {"epochs": 1, "min_epochs": 1}}}))
    first = mmbench.run(str(suite), store=tmp_path / "store", limit=40)
    again = mmbench.run(str(suite), store=tmp_path / "store", limit=40, seeds=2)  # seed 1 is new
    ids = {r.key: r.run for r in again}
    assert len({r.run for r in first}) == 1 and all(r.run for r in first)
    assert {ids[r.key] for r in first} == {first[0].run}  # finished steps keep their run
    new = {ids[k] for k in ids if k not in {r.key for r in first}}
    assert len(new) == 1 and new != {first[0].run}
    store = ResultStore(tmp_path / "store")
    found = runs(store.records())
    assert [len(r.records) for r in found] == [2, 2]
    assert history(store.records(), store_reader(store)) == []  # a new seed is no evaluation done again


def test_the_history_page_marks_what_moved_and_only_that() -> None:
    from mmbench.report.site.pages import history_page

    records, tables = _two_runs()
    page = history_page(runs(records), history(records, lambda r: tables[r.key]))
    moved = [row for row in page.split("<tr") if 'class="moved"' in row]
    assert moved and all(">strong<" in row for row in moved)  # weak did not move
    assert any(">accuracy<" in row for row in moved)
    assert "run <code>r2</code> against r1" in page
