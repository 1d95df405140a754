"""The site's pages, each a pure function of a Board (and, for the history, the store's runs):
the index of ranked tables, a page per dataset (its card, statistics, tables and every
registered diagnostic section) and per model, and the run history."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from mmbench.report.history import Change, Run
from mmbench.report.leaderboard import Board, Row, TableKey, is_score, rank_range, ranked, table_order
from mmbench.report.site import charts
from mmbench.report.site.markup import (
    Cell,
    Table,
    definitions,
    element_id,
    esc,
    filter_box,
    link,
    markdown,
    page,
    slug,
)
from mmbench.report.site.sections import SECTIONS, big_number, interval

DATASETS, MODELS = "datasets", "models"  # the folders of the per-dataset and per-model pages


@dataclass(frozen=True)
class DatasetCard:
    """What the dataset page shows of a dataset besides its scores (Markdown, from users)."""

    front: dict[str, Any] = field(default_factory=dict)
    prose: str = ""
    measured: str = ""  # measured statistics and health, when the build is here


def dataset_href(name: str, root: str = "") -> str:
    return f"{root}{DATASETS}/{slug(name)}.html"


def model_href(name: str, root: str = "") -> str:
    return f"{root}{MODELS}/{slug(name)}.html"


def score_tables(board: Board) -> dict[TableKey, list[Row]]:
    """The ranked tables' rows (clean view, no diagnostic metrics), in leaderboard order."""
    out: dict[TableKey, list[Row]] = defaultdict(list)
    for row in board.rows:
        if is_score(row):
            out[row.table].append(row)
    return dict(sorted(out.items(), key=lambda kv: table_order(kv[0])))


def table_heading(table: TableKey) -> str:
    dataset, task, trained_on = table
    return f"{dataset} · {task}" + ("" if trained_on == dataset else f" · trained on {trained_on}")


def _best(rows: list[Row]) -> float | None:
    values = [r.value for r in rows if r.value == r.value]
    if not values:
        return None
    return max(values) if rows[0].higher_is_better else min(values)


def score_block(table: TableKey, rows: list[Row], *, root: str) -> str:
    """A table's chart of the ranking metric with intervals, and its sortable table: value
    with CI per metric, the best value of each column bold, the best model's tie group marked."""
    metrics = list(dict.fromkeys(r.metric for r in rows))
    primary = metrics[0]
    cells: dict[str, dict[str, Row]] = defaultdict(dict)
    for r in rows:
        cells[r.model][r.metric] = r
    models = ranked(cells, primary)
    best = {m: _best([cells[x][m] for x in models if m in cells[x]]) for m in metrics}
    first = rows[0]
    grid = Table([("rank", "num"), ("model", "text"), *[(m, "num") for m in metrics], ("seeds", "num"),
                  ("rank range", "num"), ("tie", "text")], table_id=element_id(*table))
    grid.caption = (f"{esc(table_heading(table))}: split <code>{esc(first.eval_split)}</code>, n = {first.n}, "
                    f"ranked by {esc(primary)}")
    items = []
    for rank, model in enumerate(models, start=1):
        head = cells[model][primary]
        row_cells = []
        for m in metrics:
            found = cells[model].get(m)
            if found is None:
                row_cells.append(Cell("–", None, "num"))
                continue
            c = interval(found.value, found.ci_low, found.ci_high)
            mark = ' <span class="spread" title="seed spread larger than test-set error">†</span>' \
                if found.seed_spread_dominates else ""
            bold = found.value == best[m] and best[m] is not None
            row_cells.append(Cell((f"<strong>{c.html}</strong>" if bold else c.html) + mark, c.sort,
                                  "num best" if bold else "num"))
        tie = "best" if rank == 1 and head.tie_with_best is not None else \
            ("tie" if head.tie_with_best else "")
        grid.add([Cell.number(rank, 0), Cell(link(model_href(model, root), model), header=True), *row_cells,
                  Cell.number(head.seeds, 0),
                  Cell(esc(rank_range(head)), float(head.rank_low) if head.rank_low is not None else None, "num"),
                  Cell(f'<span class="badge {tie}">{tie}</span>' if tie else "")],
                 "tie" if tie else "")
        items.append(charts.Interval(model, head.value, head.ci_low, head.ci_high, bool(tie)))
    chart = charts.dot_chart(items, title=f"{table_heading(table)}: {primary}", axis=f"{primary} (95% CI)",
                             higher_is_better=first.higher_is_better)
    tests = cells[models[0]][primary].tests
    note = (f"Paired tests on {esc(primary)}: {esc(tests)}, Holm-corrected; <em>tie</em> marks the models not "
            "significantly different from the best." if tests else
            "No paired tests (they need the stored predictions of at least two models).")
    legend = ("Dots: seed means; bars: 95% intervals. Blue: the best model and the models not "
              "significantly different from it; grey: the others." if tests else
              "Dots: seed means; bars: 95% intervals.")
    return (f'<div class="score-block"><figure class="chart">{chart}<figcaption>{legend}</figcaption></figure>'
            f'{grid.render()}<p class="note">{note}</p></div>')


INTRO = ("<p>Every model of every suite in the store, scored on each dataset under one training "
         "protocol. A value is the mean over training seeds with its 95% interval over seeds and "
         "test sets (Student t on the seed spread, a bootstrap of the test set); † marks a cell "
         "whose seed spread is larger than its test-set error. <em>Rank range</em> and <em>tie</em> "
         "come from paired tests on the per-sample predictions. Click a column heading to sort; "
         "the filter keeps the rows that contain its text. Diagnostics (modality reliance, "
         "robustness, calibration, cost, leakage) are on each dataset's page.</p>")


def index_page(board: Board) -> str:
    tables = score_tables(board)
    datasets = sorted({t[0] for t in tables})
    models = sorted({r.model for rows in tables.values() for r in rows})
    summary = (f'<p class="summary">{len(tables)} tables · {len(datasets)} datasets · {len(models)} models · '
               f"{len(board.records)} evaluations</p>")
    body = [INTRO, summary, filter_box()]
    for table, rows in tables.items():
        body.append(f'<section class="board-section" id="s{element_id(*table)}"><h2>'
                    f'{link(dataset_href(table[0]), table[0])} · {esc(table[1])}'
                    + ("" if table[2] == table[0] else f" · trained on {esc(table[2])}") + "</h2>"
                    + score_block(table, rows, root="") + "</section>")
    return page("Leaderboard", "".join(body), root="", current="index.html")


def dataset_page(board: Board, name: str, card: DatasetCard | None) -> str:
    root = "../"
    tables = {t: rows for t, rows in score_tables(board).items() if t[0] == name}
    body = [filter_box("this page")]
    for table, rows in tables.items():
        body.append(f'<section class="board-section"><h2>{esc(table_heading(table))}</h2>'
                    + score_block(table, rows, root=root))
        for sec in SECTIONS.values():
            fragment = sec.render(board, table)
            if fragment:
                body.append(f'<section class="diagnostic" data-section="{esc(sec.key)}"><h3>{esc(sec.title)}</h3>'
                            f"{fragment}</section>")
        body.append("</section>")
    if card is None:
        body.append("<h2>Card</h2><p>No dataset card was found for this dataset.</p>")
    else:
        body.append('<section class="card"><h2>Card</h2>' + definitions(card.front) + markdown(card.prose)
                    + "</section>")
        if card.measured:
            body.append('<section class="card measured">' + markdown(card.measured) + "</section>")
        else:
            body.append("<p>The dataset's build is not in this dataset home: no measured statistics.</p>")
    return page(f"Dataset {name}", "".join(body), root=root, current="datasets.html")


def datasets_page(board: Board) -> str:
    grid = Table([("dataset", "text"), ("tables", "num"), ("models", "num"), ("evaluated split", "text"),
                  ("n", "num"), ("fingerprint", "text")])
    tables = score_tables(board)
    for name in sorted({t[0] for t in tables}):
        mine = [rows for t, rows in tables.items() if t[0] == name]
        first = mine[0][0]
        grid.add([Cell(link(dataset_href(name), name), header=True), Cell.number(len(mine), 0),
                  Cell.number(len({r.model for rows in mine for r in rows}), 0), Cell.text(first.eval_split),
                  Cell.number(first.n, 0), Cell(f"<code>{esc(first.dataset_fingerprint[:12])}</code>")])
    return page("Datasets", filter_box() + grid.render(), root="", current="datasets.html")


def models_page(board: Board) -> str:
    tables = score_tables(board)
    per_model: dict[str, list[tuple[TableKey, Row]]] = defaultdict(list)
    for table, rows in tables.items():
        primary = rows[0].metric
        for r in rows:
            if r.metric == primary:
                per_model[r.model].append((table, r))
    grid = Table([("model", "text"), ("tables", "num"), ("ranked first in", "num"),
                  ("in the best's tie group", "num")])
    for model in sorted(per_model):
        mine = per_model[model]
        grid.add([Cell(link(model_href(model), model), header=True), Cell.number(len(mine), 0),
                  Cell.number(sum(1 for _, r in mine if r.rank_low == 1 and r.rank_high == 1), 0),
                  Cell.number(sum(1 for _, r in mine if r.tie_with_best), 0)])
    return page("Models", filter_box() + grid.render(), root="", current="models.html")


def model_page(board: Board, name: str) -> str:
    root = "../"
    tables = score_tables(board)
    grid = Table([("dataset", "text"), ("task", "text"), ("trained on", "text"), ("metric", "text"),
                  ("value", "num"), ("seeds", "num"), ("rank range", "num"), ("tie", "text")])
    for (dataset, task, trained_on), rows in tables.items():
        primary = rows[0].metric
        for r in rows:
            if r.model != name:
                continue
            grid.add([Cell(link(dataset_href(dataset, root), dataset), header=True), Cell.text(task),
                      Cell.text(trained_on), Cell.text(r.metric + (" (ranking)" if r.metric == primary else "")),
                      interval(r.value, r.ci_low, r.ci_high), Cell.number(r.seeds, 0),
                      Cell(esc(rank_range(r)), float(r.rank_low) if r.rank_low is not None else None, "num"),
                      Cell.text("yes" if r.tie_with_best else "")])
    mine = [r for r in board.records if r.model == name and r.view == "clean"]
    body = [filter_box("this page"), "<h2>Scores</h2>", grid.render()]
    body += _diagnostic_rows(board, name)
    if mine:
        body.append("<h2>Configuration</h2>")
        for cfg in dict.fromkeys(json.dumps(r.model_config, sort_keys=True, default=str) for r in mine):
            shown = json.loads(cfg)
            body.append(definitions(shown if isinstance(shown, dict) else {"config": shown}))
        body += _fit_curves(mine)
    return page(f"Model {name}", "".join(body), root=root, current="models.html")


def _diagnostic_rows(board: Board, name: str) -> list[str]:
    d = board.diagnostics
    grid = Table([("dataset", "text"), ("task", "text"), ("diagnostic", "text"), ("view", "text"), ("value", "num")])
    for r in (x for x in d.reliance if x.model == name):
        grid.add([Cell(esc(r.dataset), header=True), Cell.text(r.task), Cell.text(f"{r.metric} drop"),
                  Cell.text(r.view), interval(r.drop, r.ci_low, r.ci_high)])
    for b in (x for x in d.robustness if x.model == name):
        grid.add([Cell(esc(b.dataset), header=True), Cell.text(b.task), Cell.text(f"{b.metric} relative"),
                  Cell.text(b.view), interval(b.ratio, b.ci_low, b.ci_high)])
    for row in (x for x in board.rows if x.model == name and x.view == "clean" and not is_score(x)):
        grid.add([Cell(esc(row.dataset), header=True), Cell.text(row.task), Cell.text(row.metric),
                  Cell.text(row.view), interval(row.value, row.ci_low, row.ci_high)])
    for c in (x for x in d.costs if x.model == name):
        grid.add([Cell(esc(c.dataset), header=True), Cell.text(c.task), Cell.text("FLOPs per sample"),
                  Cell.text("clean"), big_number(c.flops_per_sample)])
    return ["<h2>Diagnostics</h2>", grid.render()] if grid.rows else []


def _fit_curves(records: list[Any]) -> list[str]:
    """The loss curves of each fit (train and validation loss per epoch), one chart a corpus."""
    by_corpus: dict[str, list[Any]] = defaultdict(list)
    for r in records:
        fit = r.model_info.get("fit") if isinstance(r.model_info, dict) else None
        if isinstance(fit, dict) and isinstance(fit.get("history"), list):
            by_corpus[r.trained_on].append((r.seed, fit["history"]))
    out = []
    for corpus, fits in sorted(by_corpus.items()):
        series = []
        for seed, hist in sorted(dict(fits).items()):
            epochs = [float(h.get("epoch", i + 1)) for i, h in enumerate(hist)]
            for key in ("val_loss", "train_loss"):
                series.append(charts.Series(f"seed {seed} {key.replace('_', ' ')}", epochs,
                                            [h.get(key) for h in hist]))
        svg = charts.line_chart(series, title=f"Fitted on {corpus}: loss per epoch", x_axis="epoch", y_axis="loss")
        if svg:
            out.append(f'<figure class="chart">{svg}</figure>')
    return ["<h2>Training</h2>", '<div class="grid wide">', *out, "</div>"] if out else []


def history_page(all_runs: list[Run], changes: list[Change], alpha: float = 0.05) -> str:
    body = ["<p>Each <code>mmbench run</code> writes the steps that are not in the store yet, so a later "
            "run of a suite writes a cell again only when something behind it changed (a dataset "
            "rebuilt, a model configured differently). Each such cell is compared with the same "
            "cell in the latest earlier run that wrote it, with the paired tests of "
            "<code>mmbench compare</code>, Holm-corrected within the run; <em>moved</em> marks a "
            f"change significant at α = {alpha}.</p>", filter_box()]
    runs_table = Table([("suite", "text"), ("run", "text"), ("started", "text"), ("commit", "text"),
                        ("evaluations", "num"), ("datasets", "text"), ("models", "num")])
    for run in all_runs:
        runs_table.add([Cell(esc(run.suite), header=True), Cell(f"<code>{esc(run.run)}</code>"),
                        Cell.text(run.started), Cell(f"<code>{esc(run.git_sha[:10])}</code>"),
                        Cell.number(len(run.records), 0),
                        Cell.text(", ".join(sorted({r.dataset for r in run.records}))),
                        Cell.number(len({r.model for r in run.records}), 0)])
    body += ["<h2>Runs</h2>", runs_table.render()]
    if not changes:
        body.append("<p>No run has written a cell an earlier run of its suite wrote: nothing to compare yet.</p>")
    for change in changes:
        grid = Table([("dataset", "text"), ("task", "text"), ("model", "text"), ("metric", "text"),
                      ("before", "num"), ("after", "num"), ("after − before", "num"), ("p (Holm)", "num"),
                      ("test", "text"), ("moved", "text")], table_id=element_id("history", change.suite, change.run))
        for r in change.comparison.rows:
            moved = r.p_holm < alpha
            grid.add([Cell(esc(r.dataset), header=True), Cell.text(r.task), Cell.text(r.model), Cell.text(r.metric),
                      Cell.number(r.value_a), Cell.number(r.value_b), interval(r.delta, r.ci_low, r.ci_high),
                      Cell.number(r.p_holm, 4), Cell.text(r.test), Cell.text("moved" if moved else "")],
                     "moved" if moved else "")
        warnings = "".join(f"<li>{esc(w)}</li>" for w in change.comparison.warnings)
        body.append(f"<h2>{esc(change.suite)}: run <code>{esc(change.run)}</code> against "
                    f"{esc(', '.join(change.since))}</h2>" + grid.render()
                    + (f'<ul class="warnings">{warnings}</ul>' if warnings else ""))
    return page("Run history", "".join(body), root="", current="history.html")

