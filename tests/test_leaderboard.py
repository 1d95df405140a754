import csv
import io
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mmbench.report.leaderboard import CSV_COLUMNS, aggregate, current, render_csv, render_markdown
from mmbench.runner.store import RunRecord
from mmbench.tasks.classification import predictions_table, score

GOLDEN = Path(__file__).parent / "golden"
N = 300

# Per-sample accuracy each synthetic model aims at. On `shapes` (three seeds) fusion and
# image-only are within noise of each other (a tie), text-only and majority far below;
# text-only's seeds scatter (SEED_SHIFT) more than its test-set error, so its cells get the
# seed-spread mark, and its seed spread widens its interval and its paired tests.
# On `toy` (one seed, so McNemar) strong is clearly best and the other two tie.
# On `shapes-shifted` (one seed): two models fitted there, and a table of its own for models
# fitted on `shapes` ("EVAL@TRAIN", a transfer): worse than the same model fitted in
# distribution, better than the weaker in-distribution model, and ranked only among themselves.
MODELS = {"shapes": {"concat-fusion": 0.82, "image-only": 0.79, "text-only": 0.56, "majority": 0.50},
          "toy": {"strong": 0.9, "weak": 0.6, "weaker": 0.58},
          "shapes-shifted": {"concat-fusion": 0.8, "image-only": 0.62},
          "shapes-shifted@shapes": {"concat-fusion": 0.66, "image-only": 0.55, "majority": 0.5}}
SEED_SHIFT = {("shapes", "text-only"): {0: -0.06, 1: 0.0, 2: 0.06}}
SHAPES_SEEDS = (0, 1, 2)


def _predictions(group: str, model: str, seed: int) -> pa.Table:
    dataset = group.split("@")[0]
    rng = np.random.default_rng([ord(c) for c in group + model] + [seed])
    labels = np.random.default_rng(7).integers(0, 2, N)
    correct = rng.random(N) < MODELS[group][model] + SEED_SHIFT.get((group, model), {}).get(seed, 0.0)
    margin = 0.5 + 0.4 * rng.random(N)
    wanted = np.where(correct, labels, 1 - labels)
    probs = np.where(wanted[:, None] == np.arange(2), margin[:, None], 1 - margin[:, None])
    return predictions_table([f"{dataset}-{i}" for i in range(N)], labels, probs)


def _record(group: str, model: str, seed: int, fingerprint: str = "f" * 64,
            created: str = "2026-01-01T00:00:00Z") -> tuple[RunRecord, pa.Table]:
    dataset, _, trained_on = group.partition("@")
    table = _predictions(group, model, seed)
    labels = np.asarray(table.column("label").to_pylist())
    probs = np.asarray(table.column("probs").to_pylist())
    metrics = {k: {**v.to_dict(), "higher_is_better": True}
               for k, v in score(labels, probs, ("accuracy", "macro_f1")).items()}
    record = RunRecord(key=f"{group.replace('@', '.from.')}-{model}-{seed}-{fingerprint[0]}", benchmark="golden",
                       dataset=dataset, dataset_fingerprint=fingerprint, task="classification",
                       eval_split="test", model=model, model_config={}, config_hash=f"hash-{model}", seed=seed,
                       limit=None, n=N, metrics=metrics, primary_metric="accuracy", created=created,
                       train_dataset=trained_on, train_fingerprint="f" * 64 if trained_on else "")
    return record, table


def _store() -> dict[str, tuple[RunRecord, pa.Table]]:
    pairs = [_record("shapes", m, s) for m in MODELS["shapes"] for s in SHAPES_SEEDS]
    pairs += [_record("toy", m, 0) for m in MODELS["toy"]]
    pairs += [_record(group, m, 0) for group in ("shapes-shifted", "shapes-shifted@shapes") for m in MODELS[group]]
    # An older build of the dataset: must not mix into the table.
    pairs.append(_record("shapes", "concat-fusion", 9, fingerprint="0" * 64, created="2025-01-01T00:00:00Z"))
    return {r.key: (r, t) for r, t in pairs}


STORE = _store()


def records() -> list[RunRecord]:
    return [r for r, _ in STORE.values()]


def read(record: RunRecord) -> Any:
    return STORE[record.key][1]


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("MMBENCH_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from the golden file (MMBENCH_UPDATE_GOLDEN=1 rewrites)"


def test_markdown_matches_golden_file() -> None:
    _check_golden("leaderboard.md", render_markdown(aggregate(records(), read)))


def test_csv_matches_golden_file() -> None:
    _check_golden("leaderboard.csv", render_csv(aggregate(records(), read)))


def test_rows_pool_seeds_and_rank_by_primary_metric() -> None:
    rows = {(r.dataset, r.model, r.metric): r for r in aggregate(records(), read)}
    fusion = rows[("shapes", "concat-fusion", "accuracy")]
    seeds = [STORE[f"shapes-concat-fusion-{s}-f"][0].metrics["accuracy"]["value"] for s in SHAPES_SEEDS]
    assert fusion.seeds == 3 and abs(fusion.value - np.mean(seeds)) < 1e-12
    assert fusion.ci_low < min(seeds) and fusion.ci_high > max(seeds)
    markdown = render_markdown(aggregate(records(), read))
    shapes_part = markdown.split("## shapes")[1].split("## toy")[0]
    table = [line for line in shapes_part.splitlines() if line.startswith("| ") and "rank" not in line]
    order = [line.split("|")[2].strip() for line in table]
    assert order == ["concat-fusion", "image-only", "text-only", "majority"]


def test_ties_and_rank_intervals_come_from_paired_tests() -> None:
    rows = {(r.dataset, r.model, r.metric): r for r in aggregate(records(), read)}
    marks = {m: (rows[("shapes", m, "accuracy")].rank_low, rows[("shapes", m, "accuracy")].rank_high,
                 rows[("shapes", m, "accuracy")].tie_with_best) for m in MODELS["shapes"]}
    assert marks == {"concat-fusion": (1, 2, True), "image-only": (1, 2, True),
                     "text-only": (3, 4, False), "majority": (3, 4, False)}
    assert rows[("shapes", "majority", "accuracy")].tests == "paired-bootstrap+seed-t"  # several seeds
    toy = {m: rows[("toy", m, "accuracy")] for m in MODELS["toy"]}
    assert (toy["strong"].rank_low, toy["strong"].rank_high, toy["strong"].tie_with_best) == (1, 1, True)
    assert (toy["weak"].rank_low, toy["weak"].rank_high, toy["weak"].tie_with_best) == (2, 3, False)
    assert toy["weak"].tests.startswith("mcnemar")  # one seed: 0/1 correctness
    assert rows[("shapes", "majority", "macro_f1")].rank_low is not None  # every metric gets its ranks


def test_without_predictions_there_are_no_rank_intervals() -> None:
    rows = aggregate(records())
    assert all(r.rank_low is None and r.tie_with_best is None for r in rows)
    assert "No paired tests" in render_markdown(rows)
    assert render_csv(rows).splitlines()[1].endswith(",,,")


def _by_table(rows: list[Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(dataset, training corpus) -> model -> its accuracy row."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if r.metric == "accuracy":
            out.setdefault((r.dataset, r.train_dataset), {})[r.model] = r
    return out


def test_transfer_rows_are_a_table_of_their_own_with_their_own_ranks() -> None:
    tables = _by_table(aggregate(records(), read))
    inside, transfer = tables[("shapes-shifted", "shapes-shifted")], tables[("shapes-shifted", "shapes")]
    assert sorted(inside) == ["concat-fusion", "image-only"]
    assert sorted(transfer) == ["concat-fusion", "image-only", "majority"]
    # Ranked within their own table: the transfer concat-fusion is worse than the in-distribution
    # one yet ranks first among the transfer rows; in-distribution image-only is worse than it
    # yet is ranked 2 of 2 (ranked together, they would be ranks 2 and 3 or worse).
    assert inside["image-only"].value < transfer["concat-fusion"].value < inside["concat-fusion"].value
    marks = {(where, m): (r.rank_low, r.rank_high, r.tie_with_best)
             for where, table in (("in", inside), ("transfer", transfer)) for m, r in table.items()}
    assert marks == {("in", "concat-fusion"): (1, 1, True), ("in", "image-only"): (2, 2, False),
                     ("transfer", "concat-fusion"): (1, 2, True), ("transfer", "image-only"): (1, 3, True),
                     ("transfer", "majority"): (2, 3, False)}


def test_markdown_titles_the_training_corpus_and_keeps_in_distribution_titles() -> None:
    markdown = render_markdown(aggregate(records(), read))
    headings = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert headings == ["## shapes · classification", "## shapes-shifted · classification",
                        "## shapes-shifted · classification · trained on shapes", "## toy · classification"]
    transfer = markdown.split("· trained on shapes\n", 1)[1].split("\n## ", 1)[0]
    assert "Models fitted on `shapes` (fingerprint `ffffffffffff`)" in transfer
    ranked = [line.split("|")[2].strip() for line in transfer.splitlines()
              if line.startswith("| ") and "rank" not in line]
    assert ranked == ["concat-fusion", "image-only", "majority"]


def test_csv_has_the_training_corpus_of_every_row() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(aggregate(records(), read)))))
    assert tuple(rows[0]) == CSV_COLUMNS and CSV_COLUMNS[:2] == ("dataset", "train_dataset")
    corpora = {(r["dataset"], r["train_dataset"]) for r in rows}
    assert corpora == {("shapes", "shapes"), ("toy", "toy"), ("shapes-shifted", "shapes-shifted"),
                       ("shapes-shifted", "shapes")}
    assert all(r["train_fingerprint"] == r["dataset_fingerprint"] for r in rows
               if r["dataset"] == r["train_dataset"])
    keys = [(r["dataset"], r["train_dataset"], r["model"], r["metric"]) for r in rows]
    assert len(keys) == len(set(keys))  # the same model on one corpus twice: two rows, not one


def test_current_drops_transfer_rows_fitted_on_an_old_build_of_their_training_corpus() -> None:
    base = [r for r in records() if r.dataset_fingerprint == "f" * 64]
    transfer = next(r for r in base if r.transfer)
    stale = replace(transfer, key="stale", train_fingerprint="0" * 64, created="2025-06-01T00:00:00Z")
    unknown = replace(transfer, key="unknown", train_fingerprint="")  # a record that does not say
    kept = {r.key for r in current([*base, stale, unknown])}
    assert "stale" not in kept and "unknown" in kept and {r.key for r in base} <= kept
    # A newer build of `shapes`, seen only as a training corpus, retires the old in-distribution rows.
    newer = replace(transfer, key="newer", train_fingerprint="1" * 64, created="2026-02-01T00:00:00Z")
    kept = {r.key for r in current([*base, newer])}
    assert "newer" in kept and not any(r.dataset == "shapes" and r.key in kept for r in base)
    assert all(r.key in kept for r in base if r.dataset == "shapes-shifted" and not r.transfer)


def test_the_transfer_note_appears_only_with_transfer_tables() -> None:
    note = "A table titled *trained on X*"
    assert note in render_markdown(aggregate(records(), read))
    assert note not in render_markdown(aggregate([r for r in records() if not r.transfer], read))


def test_cells_say_their_seeds_and_mark_a_seed_spread_larger_than_the_test_set_error() -> None:
    rows = aggregate(records(), read)
    by = {(r.dataset, r.train_dataset, r.model, r.metric): r for r in rows}
    text = by[("shapes", "shapes", "text-only", "accuracy")]
    assert text.seeds == 3 and text.std > text.test_se and text.seed_spread_dominates is True
    fusion = by[("shapes", "shapes", "concat-fusion", "accuracy")]
    assert fusion.std < fusion.test_se and fusion.seed_spread_dominates is False
    single = by[("toy", "toy", "strong", "accuracy")]
    assert single.seeds == 1 and single.seed_spread_dominates is None and single.test_se > 0
    # One seed: the interval is its test-set interval alone (no seed spread is measured).
    assert (single.ci_high - single.ci_low) / 2 == pytest.approx(1.959963984540054 * single.test_se)
    markdown = render_markdown(rows)
    assert "† marks a cell whose seed spread is larger than its test-set uncertainty" in markdown
    marked = [line.split("|")[2].strip() for line in markdown.splitlines() if line.startswith("| ") and "†" in line]
    assert marked == ["text-only"]
    assert "| text-only | 0.530 ± 0.136 † | 0.529 ± 0.133 † | 3 |" in markdown
    table = {(r["dataset"], r["train_dataset"], r["model"], r["metric"]): r
             for r in csv.DictReader(io.StringIO(render_csv(rows)))}
    text_csv = table[("shapes", "shapes", "text-only", "accuracy")]
    single_csv = table[("toy", "toy", "strong", "accuracy")]
    assert (text_csv["seeds"], text_csv["seed_spread_dominates"]) == ("3", "True")
    assert float(text_csv["std"]) > float(text_csv["test_se"])
    assert (single_csv["seeds"], single_csv["std"], single_csv["seed_spread_dominates"]) == ("1", "–", "")
