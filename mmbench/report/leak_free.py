"""Scores without the evaluation records that have a near-duplicate image in train.

Where a dataset's health check (`mmbench.diagnostics.leakage`) finds test records whose
image nearly duplicates a train image, every clean evaluation on it is scored again from
its stored predictions with those records left out, as a view of its own
(`LEAK_FREE_VIEW`), so the leaderboard can show both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from mmbench.runner.store import RunRecord

LEAK_FREE_VIEW = "without-train-near-duplicates"
PredictionsReader = Callable[[RunRecord], Any]


def leaked_ids(records: list[RunRecord], home: Path | None = None) -> dict[str, set[str]]:
    """Per evaluated dataset whose current build the records used: the ids of its records
    that leak from its train split (datasets without a build here are left out)."""
    from mmbench import data
    from mmbench.diagnostics.leakage import health

    out: dict[str, set[str]] = {}
    for name in sorted({r.dataset for r in records if r.view == "clean"}):
        if not data.exists(name, home):
            continue
        fingerprint = data.info(name, home).fingerprint
        if not any(r.dataset == name and r.dataset_fingerprint == fingerprint for r in records):
            continue
        ids = set().union(*health(name, home).leaked.values())
        if ids:
            out[name] = ids
    return out


def leak_free_records(records: list[RunRecord], leaked: dict[str, set[str]],
                      read: PredictionsReader) -> list[RunRecord]:
    """For each clean record on a dataset with leaked ids among its predictions: the record
    rescored on its primary metric without them, under LEAK_FREE_VIEW."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from mmbench.report.rescore import score_record

    out = []
    for record in records:
        ids = leaked.get(record.dataset)
        if not ids or record.view != "clean":
            continue
        table = read(record)
        if table is None:
            continue
        drop = pc.is_in(table.column("id"), value_set=pa.array(sorted(ids)))
        if not pc.any(drop).as_py():
            continue
        kept = table.filter(pc.invert(drop))
        # The ranking metric only: what the section shows, at a fraction of the cost.
        primary = record.primary_metric or next(iter(record.metrics))
        out.append(replace(record, key=f"{record.key}__leak-free", view=LEAK_FREE_VIEW, n=kept.num_rows,
                           metrics=score_record(record, kept, only=[primary]), diagnostics={}))
    return out
