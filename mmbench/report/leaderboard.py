"""Render RunRecords into a leaderboard: Markdown tables and a long-format CSV. Pure: the
per-sample predictions behind the paired tests come from a reader function passed in.

A table is one (evaluation corpus, task, training corpus): a model fitted on another corpus
(a transfer row) is ranked only against models fitted on that same corpus, never against
in-distribution rows, whose training corpus is the evaluation corpus itself."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mmbench.diagnostics.views import CLEAN
from mmbench.report.diagnostics import (
    COST_FIGURES,
    Diagnostics,
    diagnose,
    render_efficiency,
    render_modality,
    render_robustness,
)
from mmbench.report.leak_free import LEAK_FREE_VIEW, leak_free_records
from mmbench.runner.store import RunRecord
from mmbench.stats import Estimate, pool_seeds, spread_dominates

# train_dataset / train_fingerprint: the training corpus and its build (equal to dataset and
# dataset_fingerprint for an in-distribution row).
# std: the standard deviation of the per-seed values ("–" with one seed); test_se: one seed's
# test-set standard error (from its bootstrap interval); seed_spread_dominates: std > test_se.
# view: what the evaluation showed the model ("clean", or a permutation, see
# mmbench.diagnostics.views); a `<metric>_drop` row is the clean minus that view (modality
# reliance) and a `multimodal_gain` row the best bimodal minus the best unimodal model.
CSV_COLUMNS = ("dataset", "train_dataset", "task", "model", "view", "metric", "value", "ci_low", "ci_high",
               "std", "test_se", "seed_spread_dominates", "n", "seeds", "higher_is_better", "eval_split",
               "dataset_fingerprint",
               "train_fingerprint", "config_hash", "rank_low", "rank_high", "tie_with_best")

TableKey = tuple[str, str, str]  # (dataset, task, training corpus): one ranked table

# record -> its predictions table (pyarrow), or None when it has none
PredictionsReader = Callable[[RunRecord], Any]


@dataclass(frozen=True)
class Row:
    dataset: str
    task: str
    model: str
    metric: str
    value: float
    ci_low: float
    ci_high: float
    std: float
    n: int
    seeds: int
    higher_is_better: bool
    eval_split: str
    dataset_fingerprint: str
    config_hash: str
    train_dataset: str  # the training corpus; `dataset` itself when in-distribution
    train_fingerprint: str
    rank_low: int | None = None  # None: no paired tests (predictions missing, or a single model)
    rank_high: int | None = None
    tie_with_best: bool | None = None
    tests: str = ""  # the paired tests used for this metric in this table
    test_se: float = float("nan")  # test-set standard error of one seed's value
    view: str = "clean"

    @property
    def seed_spread_dominates(self) -> bool | None:
        """The seeds' standard deviation is larger than the test-set standard error (None:
        one seed, no spread measured)."""
        return spread_dominates(self.std, self.test_se, self.seeds)

    @property
    def table(self) -> TableKey:
        return (self.dataset, self.task, self.train_dataset)

    @property
    def transfer(self) -> bool:
        return self.train_dataset != self.dataset


def train_fingerprint(record: RunRecord) -> str:
    """The build the model was fitted on ("" when a transfer record does not say)."""
    if record.transfer:
        return record.train_fingerprint
    return record.train_fingerprint or record.dataset_fingerprint


def current(records: list[RunRecord]) -> list[RunRecord]:
    """Keep only records whose evaluation corpus and training corpus are both at their newest
    build (the fingerprint seen in the newest record that used the corpus, to evaluate on or
    to fit on): old builds do not mix in, and a transfer row fitted on an old build of its
    training corpus goes with it."""
    newest: dict[str, tuple[str, str]] = {}

    def seen(corpus: str, created: str, fingerprint: str) -> None:
        if corpus not in newest or created > newest[corpus][0]:
            newest[corpus] = (created, fingerprint)

    for r in records:
        seen(r.dataset, r.created, r.dataset_fingerprint)
        if r.transfer and r.train_fingerprint:
            seen(r.trained_on, r.created, r.train_fingerprint)
    return [r for r in records if r.dataset_fingerprint == newest[r.dataset][1]
            and (not r.transfer or not r.train_fingerprint
                 or r.train_fingerprint == newest[r.trained_on][1])]


def aggregate(records: list[RunRecord], predictions: PredictionsReader | None = None) -> list[Row]:
    """One row per dataset x task x training corpus x model x metric, seeds pooled; with a
    predictions reader, also rank intervals and ties with the best from paired tests."""
    groups: dict[tuple[str, str, str, str, str, int | None, str], list[RunRecord]] = defaultdict(list)
    for r in current(records):
        groups[(r.dataset, r.task, r.model, r.config_hash, r.trained_on, r.limit, r.view)].append(r)
    rows = []
    for (dataset, task, model, chash, trained_on, _limit, view), runs in sorted(groups.items(),
                                                                              key=lambda kv: str(kv[0])):
        runs = sorted(runs, key=lambda r: r.seed)
        primary = runs[0].primary_metric or next(iter(runs[0].metrics))
        for metric in sorted(runs[0].metrics, key=lambda m: (m != primary, m)):
            ests = [Estimate(**{k: float(r.metrics[metric][k]) for k in ("value", "ci_low", "ci_high")})
                    for r in runs if metric in r.metrics]
            pooled = pool_seeds(ests)
            rows.append(Row(dataset, task, model, metric, pooled.mean, pooled.ci_low, pooled.ci_high,
                            pooled.std, runs[0].n, pooled.seeds,
                            bool(runs[0].metrics[metric].get("higher_is_better", True)),
                            runs[0].eval_split, runs[0].dataset_fingerprint, chash,
                            train_dataset=trained_on, train_fingerprint=train_fingerprint(runs[0]),
                            test_se=pooled.test_se, view=view))
    if predictions is not None:
        rows = _with_tests(rows, groups, predictions)
    return rows


def _with_tests(rows: list[Row], groups: dict[Any, list[RunRecord]], read: PredictionsReader) -> list[Row]:
    from mmbench.metrics import METRICS
    from mmbench.paired import align, pairwise, rank_intervals, ties_with

    # Paired tests only within one table: a transfer row never meets an in-distribution row.
    tables: dict[TableKey, dict[str, list[tuple[int, Any]]]] = defaultdict(dict)
    for (dataset, task, model, _chash, trained_on, _limit, view), runs in groups.items():
        if view != CLEAN:
            continue  # ranks and ties are for the scores as the split is
        loaded = [(r.seed, read(r)) for r in runs]
        if loaded and all(t is not None for _, t in loaded):
            tables[(dataset, task, trained_on)][model] = loaded
    marks: dict[tuple[TableKey, str, str], tuple[int, int, bool, str]] = {}
    for table, by_model in tables.items():
        if len(by_model) < 2:
            continue
        aligned = align(table[1], by_model)
        for metric in dict.fromkeys(r.metric for r in rows if r.table == table and r.view == CLEAN):
            if metric not in METRICS or METRICS.get(metric).diagnostic:
                continue
            mine = {r.model: r for r in rows if r.table == table and r.metric == metric
                    and r.model in by_model and r.view == CLEAN}
            higher = next(iter(mine.values())).higher_is_better
            pairs = pairwise(METRICS.get(metric), aligned)
            intervals = rank_intervals(sorted(mine), pairs, higher)
            best = ranked({m: {metric: row} for m, row in mine.items()}, metric)[0]
            tied = ties_with(best, pairs)
            used = ", ".join(sorted({p.test.test for p in pairs}))
            for model in mine:
                marks[(table, model, metric)] = (*intervals[model], model in tied, used)
    out = []
    for r in rows:
        mark = marks.get((r.table, r.model, r.metric)) if r.view == CLEAN else None
        out.append(r if mark is None else replace(r, rank_low=mark[0], rank_high=mark[1],
                                                  tie_with_best=mark[2], tests=mark[3]))
    return out


def _fmt(value: float) -> str:
    return "–" if value != value else f"{value:.3f}"


SPREAD_MARK = " †"  # after a cell whose seed spread is larger than its test-set error


def _cell(row: Row) -> str:
    if row.value != row.value:
        return "–"
    half = (row.ci_high - row.ci_low) / 2
    return f"{row.value:.3f} ± {half:.3f}" + (SPREAD_MARK if row.seed_spread_dominates else "")


def ranked(cells: dict[str, dict[str, Row]], primary: str) -> list[str]:
    """Models best-first by the primary metric; a model without it goes last."""
    sign = 1 if next(iter(cells.values()))[primary].higher_is_better else -1

    def key(model: str) -> tuple[float, str]:
        row = cells[model].get(primary)
        value = row.value if row is not None else float("nan")
        return (-sign * value if value == value else float("inf"), model)

    return sorted(cells, key=key)


def table_order(table: TableKey) -> tuple[str, str, bool, str]:
    """By dataset and task; an in-distribution table before the transfer tables onto it."""
    dataset, task, trained_on = table
    return (dataset, task, trained_on != dataset, trained_on)


def _title(first: Row) -> tuple[str, str]:
    """The table's heading, and what its description says of the training corpus."""
    if not first.transfer:
        return f"## {first.dataset} · {first.task}", ""
    return (f"## {first.dataset} · {first.task} · trained on {first.train_dataset}",
            f" Models fitted on `{first.train_dataset}` (fingerprint "
            f"`{first.train_fingerprint[:12] or 'not recorded'}`), a transfer evaluation: "
            f"ranked only against each other.")


def is_score(row: Row) -> bool:
    """A row of the ranked tables: the clean view, a metric that is not a diagnostic."""
    from mmbench.metrics import METRICS

    return row.view == CLEAN and not (row.metric in METRICS and METRICS.get(row.metric).diagnostic)


def render_markdown(rows: list[Row], diagnostics: Diagnostics | None = None) -> str:
    by_table: dict[TableKey, list[Row]] = defaultdict(list)
    for row in rows:
        if is_score(row):
            by_table[row.table].append(row)
    out = ["# mmbench leaderboard", "",
           "Means over the *seeds* (k) of each model. ± is the half-width of a 95% interval for "
           "the model's expected score over training seeds and test sets: "
           "√((t·s/√k)² + (z·SE)²), where s is the standard deviation of the k per-seed scores, "
           "t the Student t quantile with k − 1 degrees of freedom (t = 12.71 for two seeds, "
           "4.30 for three; no seed term with one seed, whose seed spread is unknown), SE the "
           "test-set standard error (the root mean of the per-seed bootstrap variances, "
           "image-clustered where records share an image; not divided by k, since every seed is "
           "scored on the same test set) and z = 1.96. † marks a cell whose seed spread is larger "
           "than its test-set uncertainty (s > SE): which seed was trained matters more than "
           "which records were drawn. Generated by `mmbench leaderboard`; do not edit by hand.", "",
           "Every pair of models is tested on the ranking metric with the per-sample predictions, "
           "paired by record id: McNemar for 0/1 per-sample correctness when both models have one "
           "seed, otherwise a paired bootstrap of the seed-averaged scores (image-clustered where "
           "records share an image), which gives the test-set error of the difference; where a "
           "model has several seeds its seed spread joins as in ± (one t·s/√k term per such "
           "model; the p-value is the level at which that interval of the difference reaches 0). "
           "p-values are Holm-corrected over all pairs of a table, α = 0.05. "
           "*Rank range* is [1 + models significantly better, models − models significantly "
           "worse]; *tie* marks the models not significantly different from the best.", ""]
    if any(row.transfer for row in rows):
        out += ["A table titled *trained on X* holds models fitted on corpus X and evaluated on "
                "another (transfer); every other table is in-distribution. Transfer and "
                "in-distribution rows are never ranked together.", ""]
    for _table, table_rows in sorted(by_table.items(), key=lambda kv: table_order(kv[0])):
        metrics = list(dict.fromkeys(r.metric for r in table_rows))
        primary = metrics[0]
        cells: dict[str, dict[str, Row]] = defaultdict(dict)
        for r in table_rows:
            cells[r.model][r.metric] = r
        models = ranked(cells, primary)
        first = table_rows[0]
        title, trained = _title(first)
        out += [title, "",
                f"Evaluated on split `{first.eval_split}`, n = {first.n}, dataset fingerprint "
                f"`{first.dataset_fingerprint[:12]}`.{trained} Ranked by {primary}.", "",
                "| rank | model | " + " | ".join(metrics) + " | seeds | rank range | tie |",
                "|---:|---|" + "---:|" * len(metrics) + "---:|:---:|:---:|"]
        for rank, model in enumerate(models, start=1):
            row_cells = [_cell(cells[model][m]) if m in cells[model] else "–" for m in metrics]
            head = cells[model][primary]
            out.append(f"| {rank} | {model} | " + " | ".join(row_cells) + f" | {head.seeds} | "
                       f"{rank_range(head)} | {_tie(head, rank)} |")
        tests = cells[models[0]][primary].tests
        out += [f"\nPaired tests on {primary}: {tests}." if tests else
                "\nNo paired tests (needs stored predictions of at least two models).", ""]
    out += render_modality(diagnostics or Diagnostics([], []))
    out += render_robustness(diagnostics or Diagnostics([], []))
    out += render_leak_free(rows)
    out += render_calibration(rows)
    out += render_efficiency(diagnostics.costs if diagnostics else [])
    return "\n".join(out)


def render_leak_free(rows: list[Row]) -> list[str]:
    """The section of scores without the records that leak from train ([] when none)."""
    mine = [r for r in rows if r.view == LEAK_FREE_VIEW]
    if not mine:
        return []
    primary: dict[TableKey, str] = {}
    for r in rows:  # a table's first clean score is its ranking metric
        if is_score(r):
            primary.setdefault(r.table, r.metric)
    out = ["## Without train near-duplicates", "",
           "Where the dataset's health check finds evaluation records whose image nearly "
           "duplicates a train image (`mmbench card NAME` lists them), every clean score is "
           "computed again without those records, ± as in the tables above.", ""]
    by_table: dict[TableKey, list[Row]] = defaultdict(list)
    for r in mine:
        if r.metric == primary.get(r.table, r.metric):
            by_table[r.table].append(r)
    for table, table_rows in sorted(by_table.items(), key=lambda kv: table_order(kv[0])):
        first = table_rows[0]
        title, _ = _title(first)
        clean = {r.model: r for r in rows if r.table == table and r.view == CLEAN and r.metric == first.metric}
        out += ["#" + title, "", f"n = {first.n} of {clean[first.model].n if first.model in clean else '?'} "
                f"records. Ranked by {first.metric}.", "",
                f"| model | {first.metric}, all records | {first.metric}, without near-duplicates | seeds |",
                "|---|---:|---:|---:|"]
        for r in sorted(table_rows, key=lambda r: (-r.value if r.higher_is_better else r.value, r.model)):
            whole = clean.get(r.model)
            out.append(f"| {r.model} | {_cell(whole) if whole else '–'} | {_cell(r)} | {r.seeds} |")
        out.append("")
    return out


def render_calibration(rows: list[Row]) -> list[str]:
    """The calibration section: each classifier's calibration metrics on the clean view."""
    from mmbench.metrics import METRICS

    mine = [r for r in rows if r.view == CLEAN and r.metric in METRICS
            and METRICS.get(r.metric).diagnostic == "calibration"]
    if not mine:
        return []
    out = ["## Calibration", "",
           "How far each classifier's confidence is from its accuracy, on the clean evaluation "
           "split (lower is better for all): *ece*, the expected calibration error of the "
           "top-class probability over 15 equal-width bins; *ece_adaptive*, over 15 equal-mass "
           "bins; *brier*, the multi-class Brier score; *nll*, the negative log-likelihood of "
           "the label. ± as in the tables above. The records hold each reliability diagram's "
           "bins (`diagnostics.reliability`).", ""]
    by_table: dict[TableKey, dict[str, dict[str, Row]]] = defaultdict(lambda: defaultdict(dict))
    for r in mine:
        by_table[r.table][r.model][r.metric] = r
    for table, cells in sorted(by_table.items(), key=lambda kv: table_order(kv[0])):
        dataset, task, trained_on = table
        metrics = sorted({m for per_model in cells.values() for m in per_model},
                         key=lambda m: (m != "ece", m))
        out += [f"### {dataset} · {task}" + ("" if trained_on == dataset else f" · trained on {trained_on}"), "",
                "| model | " + " | ".join(metrics) + " | seeds |", "|---|" + "---:|" * len(metrics) + "---:|"]
        for model in sorted(cells, key=lambda m: (cells[m].get("ece", next(iter(cells[m].values()))).value, m)):
            row_cells = [_cell(cells[model][m]) if m in cells[model] else "–" for m in metrics]
            seeds = next(iter(cells[model].values())).seeds
            out.append(f"| {model} | " + " | ".join(row_cells) + f" | {seeds} |")
        out.append("")
    return out


def rank_range(row: Row) -> str:
    if row.rank_low is None:
        return "–"
    return str(row.rank_low) if row.rank_low == row.rank_high else f"{row.rank_low}–{row.rank_high}"


def _tie(row: Row, rank: int) -> str:
    if row.tie_with_best is None:
        return "–"
    return "best" if rank == 1 else ("tie" if row.tie_with_best else "")


def _opt(value: object) -> str:
    return "" if value is None else str(value)


def derived_rows(rows: list[Row], diagnostics: Diagnostics) -> list[Row]:
    """Reliance and gains as long-format rows beside the cells they come from."""
    heads = {(r.dataset, r.task, r.train_dataset, r.model): r for r in rows if r.view == CLEAN}
    out = []
    for rel in diagnostics.reliance:
        head = heads.get((rel.dataset, rel.task, rel.train_dataset, rel.model))
        if head is not None:
            out.append(_derived(head, rel.model, rel.view, f"{rel.metric}_drop", rel.drop, rel.ci_low,
                                rel.ci_high, rel.seeds))
    for gain in diagnostics.gains:
        head = heads.get((gain.dataset, gain.task, gain.train_dataset, gain.multimodal))
        if head is not None:
            out.append(_derived(head, f"{gain.multimodal} - {gain.unimodal}", CLEAN, "multimodal_gain",
                                gain.delta, gain.ci_low, gain.ci_high, head.seeds))
    for rob in diagnostics.robustness:
        head = heads.get((rob.dataset, rob.task, rob.train_dataset, rob.model))
        if head is not None:
            out.append(_derived(head, rob.model, rob.view, f"{rob.metric}_relative", rob.ratio, rob.ci_low,
                                rob.ci_high, rob.seeds))
    nan = float("nan")
    for cost in diagnostics.costs:  # medians over seeds, measured once each: no interval
        head = heads.get((cost.dataset, cost.task, cost.train_dataset, cost.model))
        for figure in (*COST_FIGURES, "fit_s", "parameters"):
            value = getattr(cost, figure)
            if head is not None and value is not None:
                out.append(_derived(head, cost.model, CLEAN, figure, float(value), nan, nan, cost.seeds))
    return out


def _derived(head: Row, model: str, view: str, metric: str, value: float, low: float, high: float,
             seeds: int) -> Row:
    return Row(head.dataset, head.task, model, metric, value, low, high, float("nan"), head.n, seeds, True,
               head.eval_split, head.dataset_fingerprint, head.config_hash, head.train_dataset,
               head.train_fingerprint, view=view)


def render_csv(rows: list[Row], diagnostics: Diagnostics | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows + derived_rows(rows, diagnostics or Diagnostics([], [])):
        writer.writerow([r.dataset, r.train_dataset, r.task, r.model, r.view, r.metric, _fmt(r.value),
                         _fmt(r.ci_low), _fmt(r.ci_high), _fmt(r.std), _fmt(r.test_se),
                         _opt(r.seed_spread_dominates), r.n, r.seeds,
                         r.higher_is_better, r.eval_split, r.dataset_fingerprint,
                         r.train_fingerprint, r.config_hash,
                         _opt(r.rank_low), _opt(r.rank_high), _opt(r.tie_with_best)])
    return buffer.getvalue()


def board_rows(records: list[RunRecord], predictions: PredictionsReader | None = None,
               leaked: dict[str, set[str]] | None = None) -> list[Row]:
    """The rows of every view, plus each clean cell scored again without the records that
    leak from train (`leaked`: dataset -> ids) where predictions are there to do it."""
    extra = leak_free_records(current(records), leaked, predictions) if leaked and predictions else []
    return aggregate(records + extra, predictions)


@dataclass(frozen=True)
class Board:
    """Everything a leaderboard shows, computed once for the Markdown, the CSV and the site."""

    rows: list[Row]
    diagnostics: Diagnostics
    records: list[RunRecord]  # the current records the rows come from


def build(records: list[RunRecord], predictions: PredictionsReader | None = None,
          leaked: dict[str, set[str]] | None = None) -> Board:
    latest = current(records)
    return Board(board_rows(records, predictions, leaked), diagnose(latest, predictions), latest)


def write(records: list[RunRecord], out_dir: Path,
          predictions: PredictionsReader | None = None,
          leaked: dict[str, set[str]] | None = None) -> list[Path]:
    return write_board(build(records, predictions, leaked), out_dir)


def write_board(board: Board, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, table = out_dir / "README.md", out_dir / "leaderboard.csv"
    replace_file(md, render_markdown(board.rows, board.diagnostics), out_dir)
    replace_file(table, render_csv(board.rows, board.diagnostics), out_dir)
    return [md, table]


def replace_file(path: Path, text: str, base: Path) -> None:
    """Write `path` whole or not at all: runs that finish together may write it at once."""
    import os

    from mmbench.paths import inside, remove_file
    from mmbench.runner.store import open_temp

    target = inside(path, base, "leaderboard file")
    fd, tmp = open_temp(target)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    finally:
        remove_file(tmp, base, "temporary file")
