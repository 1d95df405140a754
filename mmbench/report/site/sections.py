"""The diagnostic sections of a dataset's page, one registered function each: a new
diagnostic adds a section here (or anywhere, with `@section`) and no page code changes.

A section renders one leaderboard table (dataset, task, training corpus) of a Board: its
HTML fragment, or "" when the store holds nothing of it for that table."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mmbench.report.leaderboard import Board, Row, TableKey
from mmbench.report.site import charts
from mmbench.report.site.markup import Cell, Table, esc, fmt

Render = Callable[[Board, TableKey], str]


@dataclass(frozen=True)
class Section:
    key: str  # the diagnostic's name, as a suite selects it
    title: str
    render: Render


SECTIONS: dict[str, Section] = {}


def section(key: str, title: str) -> Callable[[Render], Render]:
    """Register `render` as the page section of diagnostic `key`."""
    def register(render: Render) -> Render:
        SECTIONS[key] = Section(key, title, render)
        return render

    return register


def interval(value: float, low: float, high: float, digits: int | None = None) -> Cell:
    """A value and its 95% interval in one sortable cell (3 decimals for scores, fewer for
    large values such as a median rank)."""
    if value != value:
        return Cell("–", None, "num")
    if digits is None:
        digits = 3 if abs(value) < 10 else 2 if abs(value) < 100 else 1
    ci = "" if low != low else f' <span class="ci">[{fmt(low, digits)}, {fmt(high, digits)}]</span>'
    return Cell(f"{fmt(value, digits)}{ci}", value, "num")


def _kind(view: str) -> str:
    return view.partition(":")[0]


def _figure(svg: str, caption: str = "") -> str:
    if not svg:
        return ""
    return f'<figure class="chart">{svg}' + (f"<figcaption>{caption}</figcaption>" if caption else "") + "</figure>"


# ---- modality reliance ---------------------------------------------------------------

@section("modality", "Modality reliance")
def modality(board: Board, table: TableKey) -> str:
    reliance = [r for r in board.diagnostics.reliance if r.table == table]
    gains = [g for g in board.diagnostics.gains if g.table == table]
    if not reliance and not gains:
        return ""
    views = sorted({_kind(r.view) for r in reliance})
    by_model: dict[str, dict[str, Any]] = defaultdict(dict)
    for r in reliance:
        by_model[r.model][_kind(r.view)] = r
    out = ['<p>The drop in the ranking metric when the pairing of images (or texts) with the rest of '
           'each record is broken within the split: clean minus permuted, paired per seed (the '
           'perceptual score of Gat et al., 2021). A model that ignores a modality loses nothing '
           'when it is permuted.</p>']
    if by_model:
        order = sorted(by_model, key=lambda m: (-max(r.drop for r in by_model[m].values()), m))
        groups = [charts.Bars(m, {v: by_model[m][v].drop for v in views if v in by_model[m]},
                              {v: by_model[m][v].ci_low for v in views if v in by_model[m]},
                              {v: by_model[m][v].ci_high for v in views if v in by_model[m]}) for m in order]
        metric = reliance[0].metric
        out.append(_figure(charts.grouped_bars(groups, title=f"Drop in {metric} under permutation",
                                               axis=f"{metric}, clean minus permuted")))
        grid = Table([("model", "text"), *[(f"drop, {v}", "num") for v in views], ("seeds", "num")])
        for m in order:
            cells = [interval(by_model[m][v].drop, by_model[m][v].ci_low, by_model[m][v].ci_high)
                     if v in by_model[m] else Cell("–") for v in views]
            seeds = max(r.seeds for r in by_model[m].values())
            grid.add([Cell(esc(m), header=True), *cells, Cell.number(seeds, 0)])
        out.append(grid.render())
    for g in gains:
        out.append(f'<p class="gain">Multimodal gain on {esc(g.metric)}: best bimodal model '
                   f'<strong>{esc(g.multimodal)}</strong> minus best unimodal <strong>{esc(g.unimodal)}'
                   f'</strong> = {g.delta:+.3f} [{fmt(g.ci_low)}, {fmt(g.ci_high)}], p = {fmt(g.p_value, 4)}.</p>')
    return "".join(out)


# ---- robustness ----------------------------------------------------------------------

@section("robustness", "Robustness")
def robustness(board: Board, table: TableKey) -> str:
    mine = [r for r in board.diagnostics.robustness if r.table == table]
    if not mine:
        return ""
    out = ['<p>Relative robustness: the ranking metric under a seeded perturbation of the '
           'evaluation split, divided by the clean value (1 = unaffected), at each severity.</p>']
    kinds = sorted({r.perturbation for r in mine})
    models = sorted({r.model for r in mine})
    cell = {(r.model, r.perturbation, r.severity): r for r in mine}
    severities = sorted({r.severity for r in mine})
    figures = []
    for kind in kinds:
        series = []
        for m in models:
            points = [cell.get((m, kind, s)) for s in severities]
            if not any(points):
                continue
            series.append(charts.Series(m, [0.0, *map(float, severities)],
                                        [1.0, *[p.ratio if p else None for p in points]],
                                        [1.0, *[p.ci_low if p else None for p in points]],
                                        [1.0, *[p.ci_high if p else None for p in points]]))
        figures.append(_figure(charts.line_chart(series, title=kind, x_axis="severity",
                                                 y_axis="perturbed / clean",
                                                 x_ticks=[0.0, *map(float, severities)], reference=1.0)))
    out.append('<div class="grid">' + "".join(figures) + "</div>")
    columns = [(k, s) for k in kinds for s in severities if any((m, k, s) in cell for m in models)]
    grid = Table([("model", "text"), *[(f"{k} · {s}", "num") for k, s in columns]])
    for m in models:
        grid.add([Cell(esc(m), header=True),
                  *[interval(cell[(m, k, s)].ratio, cell[(m, k, s)].ci_low, cell[(m, k, s)].ci_high)
                    if (m, k, s) in cell else Cell("–") for k, s in columns]])
    out.append(grid.render())
    return "".join(out)


# ---- calibration ---------------------------------------------------------------------

def _calibration_rows(board: Board, table: TableKey) -> list[Row]:
    from mmbench.metrics import METRICS

    return [r for r in board.rows if r.table == table and r.view == "clean" and r.metric in METRICS
            and METRICS.get(r.metric).diagnostic == "calibration"]


def pooled_reliability(records: list[Any]) -> list[dict[str, float | None]]:
    """One reliability diagram over the seeds: counts added, means weighted by count."""
    diagrams = [r.diagnostics["reliability"] for r in records
                if isinstance(r.diagnostics.get("reliability"), list) and r.diagnostics["reliability"]]
    if not diagrams:
        return []
    out: list[dict[str, float | None]] = []
    for bins in zip(*diagrams, strict=False):
        filled = [b for b in bins if b.get("count")]
        count = sum(int(b["count"]) for b in filled)
        out.append({"low": bins[0]["low"], "high": bins[0]["high"], "count": count,
                    **{key: sum(float(b[key]) * int(b["count"]) for b in filled) / count if count else None
                       for key in ("confidence", "accuracy")}})
    return out


@section("calibration", "Calibration")
def calibration(board: Board, table: TableKey) -> str:
    mine = _calibration_rows(board, table)
    if not mine:
        return ""
    metrics = sorted({r.metric for r in mine}, key=lambda m: (m != "ece", m))
    cells: dict[str, dict[str, Row]] = defaultdict(dict)
    for r in mine:
        cells[r.model][r.metric] = r
    order = sorted(cells, key=lambda m: (cells[m][metrics[0]].value if metrics[0] in cells[m] else 9.0, m))
    grid = Table([("model", "text"), *[(m, "num") for m in metrics], ("seeds", "num")])
    for model in order:
        row = [interval(cells[model][m].value, cells[model][m].ci_low, cells[model][m].ci_high)
               if m in cells[model] else Cell("–") for m in metrics]
        grid.add([Cell(esc(model), header=True), *row, Cell.number(next(iter(cells[model].values())).seeds, 0)])
    dataset, task, trained_on = table
    diagrams = []
    for model in order:
        records = [r for r in board.records if (r.dataset, r.task, r.trained_on, r.model) ==
                   (dataset, task, trained_on, model) and r.view == "clean"]
        diagrams.append(_figure(charts.reliability_diagram(pooled_reliability(records), title=model)))
    return ('<p>How far confidence is from accuracy on the clean split (lower is better for '
            'all): <em>ece</em> over 15 equal-width bins of the top-class probability, '
            '<em>ece_adaptive</em> over 15 equal-mass bins, the Brier score and the negative '
            'log-likelihood. Each diagram pools the seeds; the strip under it shows where the '
            'predictions fall.</p>' + grid.render() + '<div class="grid small">' + "".join(diagrams) + "</div>")


# ---- efficiency ----------------------------------------------------------------------

@section("efficiency", "Efficiency")
def efficiency(board: Board, table: TableKey) -> str:
    from mmbench.diagnostics.efficiency import pareto

    mine = [c for c in board.diagnostics.costs if c.table == table]
    if not mine:
        return ""
    higher = mine[0].higher_is_better
    by_flops = {c.model: (c.score, c.flops_per_sample) for c in mine if c.flops_per_sample}
    front = pareto({m: (s, float(f)) for m, (s, f) in by_flops.items() if f is not None}, higher)
    points = [charts.Point(c.model, float(c.flops_per_sample), c.score, c.model in front)
              for c in mine if c.flops_per_sample]
    chart = charts.scatter(points, title=f"{mine[0].metric} against FLOPs per sample", x_axis="FLOPs per sample",
                           y_axis=mine[0].metric, log_x=True)
    grid = Table([("model", "text"), (mine[0].metric, "num"), ("parameters", "num"), ("FLOPs / sample", "num"),
                  ("latency p50 (ms)", "num"), ("latency p95 (ms)", "num"), ("throughput (/s)", "num"),
                  ("peak RSS (MB)", "num"), ("fit (s)", "num"), ("Pareto front", "text")])
    for c in sorted(mine, key=lambda c: (-c.score if higher else c.score, c.model)):
        grid.add([Cell(esc(c.model), header=True), Cell.number(c.score), Cell.number(c.parameters, 0),
                  big_number(c.flops_per_sample), Cell.number(c.latency_sample_p50_ms, 3),
                  Cell.number(c.latency_sample_p95_ms, 3), Cell.number(c.throughput_per_s, 0),
                  Cell.number(c.peak_rss_mb, 0), Cell.number(c.fit_s, 1),
                  Cell.text("yes" if c.model in front else "")], "front" if c.model in front else "")
    return ('<p>What each model costs, measured on the device that ran it (medians over seeds; '
            'timings and memory are this machine\'s). On the Pareto front: no other model scores '
            'at least as well with fewer FLOPs per sample.</p>' + _figure(chart) + grid.render())


def big_number(value: float | None) -> Cell:
    """A count such as FLOPs with a k/M/G suffix, sorting by its value."""
    if value is None or value != value:
        return Cell("–", None, "num")
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return Cell(f"{value / scale:.2f} {suffix}", value, "num")
    return Cell(f"{value:.0f}", value, "num")


# ---- leakage -------------------------------------------------------------------------

@section("leakage", "Without train near-duplicates")
def leak_free(board: Board, table: TableKey) -> str:
    from mmbench.report.leak_free import LEAK_FREE_VIEW

    mine = [r for r in board.rows if r.table == table and r.view == LEAK_FREE_VIEW]
    clean = {(r.model, r.metric): r for r in board.rows if r.table == table and r.view == "clean"}
    if not mine:
        return ""
    grid = Table([("model", "text"), ("metric", "text"), ("all records", "num"), ("without near-duplicates", "num"),
                  ("seeds", "num")])
    for r in sorted(mine, key=lambda r: (r.metric, -r.value if r.higher_is_better else r.value, r.model)):
        whole = clean.get((r.model, r.metric))
        grid.add([Cell(esc(r.model), header=True), Cell.text(r.metric),
                  interval(whole.value, whole.ci_low, whole.ci_high) if whole else Cell("–"),
                  interval(r.value, r.ci_low, r.ci_high), Cell.number(r.seeds, 0)])
    n_all = next((c.n for c in clean.values()), None)
    return (f"<p>Scores again without the {'' if n_all is None else n_all - mine[0].n} evaluation records whose "
            f"image nearly duplicates a train image (n = {mine[0].n}); the dataset's page lists the "
            "health check.</p>" + grid.render())
