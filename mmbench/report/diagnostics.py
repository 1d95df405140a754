"""What the leaderboard derives from records evaluated under other views, from their
stored predictions and from their efficiency probes: modality reliance, the multimodal
gain, and cost with its Pareto fronts. Pure, like the leaderboard.

- **Modality reliance** (the perceptual score of Gat et al., 2021): a model's drop in its
  primary metric when the images (or the texts) are permuted within the split, clean
  minus permuted. Each seed's clean and permuted evaluations come from one fitted model
  and share their records, so the drop is paired per seed (a bootstrap of the per-record
  difference, image-clustered where records share an image) and the seeds are pooled as
  every leaderboard cell is (Student t on the spread of the per-seed drops).
- **Multimodal gain**, per table: the best model that reads both modalities minus the best
  that reads one, on the primary metric, with the paired test the rank ranges use.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmbench.diagnostics.views import PERMUTATIONS
from mmbench.runner.store import RunRecord
from mmbench.stats import Estimate, pool_seeds

PredictionsReader = Callable[[RunRecord], Any]
TableKey = tuple[str, str, str]  # (dataset, task, training corpus)


@dataclass(frozen=True)
class OnTable:
    """What every diagnostic row says first: the leaderboard table it belongs to."""

    dataset: str
    task: str
    train_dataset: str  # the training corpus; `dataset` itself when in-distribution

    @property
    def table(self) -> TableKey:
        return (self.dataset, self.task, self.train_dataset)


@dataclass(frozen=True)
class Reliance(OnTable):
    model: str
    view: str  # the permuted view
    metric: str  # the primary metric whose drop this is
    drop: float  # clean minus permuted: how much the model loses without the pairing
    ci_low: float
    ci_high: float
    seeds: int
    n: int


@dataclass(frozen=True)
class Robustness(OnTable):
    """A model's relative robustness under one perturbation view: perturbed / clean."""

    model: str
    view: str
    metric: str
    ratio: float
    ci_low: float
    ci_high: float
    seeds: int

    @property
    def perturbation(self) -> str:
        return _kind(self.view)

    @property
    def severity(self) -> int:
        from mmbench.diagnostics.views import parse_view

        return parse_view(self.view).severity


@dataclass(frozen=True)
class Gain(OnTable):
    metric: str
    multimodal: str  # the best model that reads images and texts
    unimodal: str  # the best model that reads one of them
    delta: float  # multimodal minus unimodal
    ci_low: float
    ci_high: float
    p_value: float


@dataclass
class Diagnostics:
    reliance: list[Reliance]
    gains: list[Gain]
    costs: list[Cost] = field(default_factory=list)
    robustness: list[Robustness] = field(default_factory=list)


def modalities(record: RunRecord) -> tuple[bool, bool]:
    """(reads images, reads texts) of the record's model class, as the tasks read them: images
    only for a class that says `uses_images`, texts unless it says `uses_text = False`."""
    from mmbench.models import MODELS

    name = str(record.model_info.get("registry_name") or record.model)
    factory = MODELS.get(name) if name in MODELS else None
    return (bool(getattr(factory, "uses_images", False)), bool(getattr(factory, "uses_text", True)))


def _kind(view: str) -> str:
    return view.partition(":")[0]


def _group(record: RunRecord) -> tuple[str, str, str, str, str, int | None]:
    return (record.dataset, record.task, record.trained_on, record.model, record.config_hash, record.limit)


def _primary(record: RunRecord) -> str:
    return record.primary_metric or next(iter(record.metrics))


def _seed_drop(metric: Any, task: str, clean: Any, permuted: Any) -> Estimate | None:
    """Clean minus permuted for one seed, paired on the shared record ids."""
    from mmbench.paired import align, paired_test

    aligned = align(task, {"clean": [(0, clean)], "permuted": [(0, permuted)]})
    if not aligned.ids:
        return None
    test = paired_test(metric, aligned.runs["permuted"], aligned.runs["clean"], clusters=aligned.clusters)
    return Estimate(test.delta, test.ci_low, test.ci_high)


SeedStatistic = Callable[[Any, str, Any, Any], Estimate | None]  # (metric, task, clean, view)


def _against_clean(records: list[RunRecord], read: PredictionsReader, wanted: Callable[[str], bool],
                   per_seed: SeedStatistic) -> list[tuple[RunRecord, str, str, Any]]:
    """For each model and view that `wanted` picks, with its clean evaluations beside it:
    (first clean record, view, primary metric, `per_seed` of each shared seed pooled as the
    leaderboard pools seeds)."""
    from mmbench.metrics import METRICS

    by_view: dict[tuple[Any, ...], dict[str, dict[int, RunRecord]]] = defaultdict(lambda: defaultdict(dict))
    for r in records:
        by_view[_group(r)][r.view][r.seed] = r
    out = []
    for group, views in sorted(by_view.items(), key=lambda kv: str(kv[0])):
        clean = views.get("clean", {})
        for view, runs in sorted(views.items()):
            seeds = sorted(set(runs) & set(clean)) if view != "clean" and wanted(view) else []
            metric_name = _primary(clean[seeds[0]]) if seeds else ""
            if metric_name not in METRICS:
                continue
            estimates = []
            for seed in seeds:
                a, b = read(clean[seed]), read(runs[seed])
                estimate = None if a is None or b is None else per_seed(METRICS.get(metric_name), group[1], a, b)
                if estimate is not None:
                    estimates.append(estimate)
            if estimates:
                out.append((clean[seeds[0]], view, metric_name, pool_seeds(estimates)))
    return out


def reliance(records: list[RunRecord], read: PredictionsReader) -> list[Reliance]:
    """One Reliance per model and permuted view that has its clean evaluations beside it."""
    return [Reliance(first.dataset, first.task, first.trained_on, first.model, view, metric, pooled.mean,
                     pooled.ci_low, pooled.ci_high, pooled.seeds, first.n)
            for first, view, metric, pooled in _against_clean(records, read, lambda v: _kind(v) in PERMUTATIONS,
                                                               _seed_drop)]


def _seed_ratio(metric: Any, task: str, clean: Any, perturbed: Any) -> Estimate | None:
    """Perturbed over clean for one seed, on the same resampled records for both."""
    from mmbench.paired import align, scorer
    from mmbench.stats import N_BOOTSTRAP, evaluate_draws, resample

    aligned = align(task, {"clean": [(0, clean)], "perturbed": [(0, perturbed)]})
    n = len(aligned.ids)
    if not n:
        return None
    on_clean, on_perturbed = scorer(metric, aligned.runs["clean"]), scorer(metric, aligned.runs["perturbed"])

    def ratio(idx: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):
            return on_perturbed(idx) / on_clean(idx)

    value = float(ratio(np.arange(n)[None, :])[0])
    draws = evaluate_draws(resample(n, 0, N_BOOTSTRAP, aligned.clusters), ratio)
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return Estimate(value, float("nan"), float("nan"))
    low, high = np.percentile(draws, [2.5, 97.5])
    return Estimate(value, float(low), float(high))


def robustness(records: list[RunRecord], read: PredictionsReader) -> list[Robustness]:
    """One Robustness per model and perturbation view with its clean evaluations beside it."""
    return [Robustness(first.dataset, first.task, first.trained_on, first.model, view, metric, pooled.mean,
                       pooled.ci_low, pooled.ci_high, pooled.seeds)
            for first, view, metric, pooled in _against_clean(records, read,
                                                               lambda v: _kind(v) not in PERMUTATIONS,
                                                               _seed_ratio)]


def multimodal_gain(records: list[RunRecord], read: PredictionsReader) -> list[Gain]:
    """Per table with both kinds of model: best bimodal minus best unimodal (clean view)."""
    from mmbench.metrics import METRICS
    from mmbench.paired import align, paired_test, value

    tables: dict[TableKey, dict[str, list[RunRecord]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.view == "clean":
            tables[(r.dataset, r.task, r.trained_on)][r.model].append(r)
    out = []
    for table, by_model in sorted(tables.items()):
        kinds = {model: modalities(runs[0]) for model, runs in by_model.items()}
        both = [m for m, (image, text) in kinds.items() if image and text]
        one = [m for m, (image, text) in kinds.items() if image != text]
        if not both or not one:
            continue
        metric_name = _primary(by_model[both[0]][0])
        if metric_name not in METRICS:
            continue
        metric = METRICS.get(metric_name)
        loaded = {m: [(r.seed, read(r)) for r in by_model[m]] for m in both + one}
        if any(t is None for runs in loaded.values() for _, t in runs):
            continue
        aligned = align(table[1], loaded)
        scores = {m: value(metric, aligned.runs[m]) for m in both + one}
        top, base = _best(both, scores, metric.higher_is_better), _best(one, scores, metric.higher_is_better)
        test = paired_test(metric, aligned.runs[base], aligned.runs[top], clusters=aligned.clusters)
        out.append(Gain(*table, metric_name, top, base, test.delta, test.ci_low, test.ci_high, test.p_value))
    return out


def _best(models: list[str], scores: dict[str, float], higher_is_better: bool) -> str:
    """The best-scoring model (by name among equals; a model without a score last)."""
    sign = 1.0 if higher_is_better else -1.0
    return max(sorted(models), key=lambda m: sign * scores[m] if math.isfinite(scores[m]) else -math.inf)


def diagnose(records: list[RunRecord], read: PredictionsReader | None) -> Diagnostics:
    """Reliance and gains of the current records (empty without stored predictions)."""
    if read is None:
        return Diagnostics([], [], costs(records))
    return Diagnostics(reliance(records, read), multimodal_gain(records, read), costs(records),
                       robustness(records, read))


def _interval(value: float, low: float, high: float) -> str:
    if value != value:
        return "–"
    return f"{value:+.3f} [{low:+.3f}, {high:+.3f}]"


def render_modality(diagnostics: Diagnostics) -> list[str]:
    """The Markdown section on modality reliance and multimodal gain ([] when there is none)."""
    if not diagnostics.reliance and not diagnostics.gains:
        return []
    out = ["## Modality reliance", "",
           "Drop in the primary metric when the images, or the texts, are permuted within the "
           "evaluation split (each record keeps its label and the other modality; a seeded "
           "permutation without fixed points, the same for every model): clean minus permuted, "
           "with a 95% interval paired per seed and pooled over seeds as the scores are. "
           "A drop near 0 means the model does not use that modality. *Multimodal gain* is the "
           "best model reading both modalities minus the best reading one, paired test "
           "(p not corrected).", ""]
    tables = sorted({r.table for r in diagnostics.reliance} | {g.table for g in diagnostics.gains})
    for table in tables:
        dataset, task, trained_on = table
        title = f"### {dataset} · {task}" + ("" if trained_on == dataset else f" · trained on {trained_on}")
        out += [title, ""]
        rows: dict[str, dict[str, Reliance]] = defaultdict(dict)
        for r in diagnostics.reliance:
            if r.table == table:
                rows[r.model][r.view.partition(":")[0]] = r
        if rows:
            metric = next(iter(next(iter(rows.values())).values())).metric
            out += [f"| model | {metric} drop, images permuted | {metric} drop, texts permuted | seeds |",
                    "|---|---:|---:|---:|"]
            for model in sorted(rows):
                cells = [rows[model].get(kind) for kind in ("permute-images", "permute-texts")]
                text = [_interval(c.drop, c.ci_low, c.ci_high) if c else "–" for c in cells]
                seeds = max(c.seeds for c in cells if c)
                out.append(f"| {model} | {text[0]} | {text[1]} | {seeds} |")
            out.append("")
        for g in diagnostics.gains:
            if g.table == table:
                out += [f"Multimodal gain on {g.metric}: {g.multimodal} − {g.unimodal} = "
                        f"{_interval(g.delta, g.ci_low, g.ci_high)}, p = {g.p_value:.3g}.", ""]
    return out


@dataclass(frozen=True)
class Cost(OnTable):
    """One model's cost on one table (clean view), medians over its seeds."""

    model: str
    score: float  # the primary metric's seed mean
    metric: str
    higher_is_better: bool
    parameters: int | None
    flops_per_sample: float | None
    latency_sample_p50_ms: float | None
    latency_sample_p95_ms: float | None
    throughput_per_s: float | None
    fit_s: float | None
    peak_rss_mb: float | None
    device: str
    seeds: int


COST_FIGURES = ("flops_per_sample", "latency_sample_p50_ms", "latency_sample_p95_ms", "throughput_per_s",
                "peak_rss_mb")
# Timings and memory of the machine that ran: never equal on another one (verify skips them).
MEASURED_HERE = ("latency_sample_p50_ms", "latency_sample_p95_ms", "throughput_per_s", "peak_rss_mb", "fit_s")


def _median(values: list[Any]) -> float | None:
    finite = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    return float(sorted(finite)[len(finite) // 2]) if finite else None


def costs(records: list[RunRecord]) -> list[Cost]:
    """A Cost per model and table from the efficiency probes of its clean evaluations."""
    groups: dict[tuple[Any, ...], list[RunRecord]] = defaultdict(list)
    for r in records:
        if r.view == "clean" and "efficiency" in r.diagnostics:
            groups[_group(r)].append(r)
    out = []
    for _group_key, runs in sorted(groups.items(), key=lambda kv: str(kv[0])):
        first = runs[0]
        metric = _primary(first)
        if metric not in first.metrics:
            continue
        probes = [r.diagnostics["efficiency"] for r in runs]
        figures = {name: _median([p.get(name) for p in probes]) for name in COST_FIGURES}
        parameters = first.model_info.get("num_parameters")
        out.append(Cost(first.dataset, first.task, first.trained_on, first.model,
                        float(sum(r.metrics[metric]["value"] for r in runs) / len(runs)), metric,
                        bool(first.metrics[metric].get("higher_is_better", True)),
                        int(parameters) if isinstance(parameters, int) else None,
                        figures["flops_per_sample"], figures["latency_sample_p50_ms"],
                        figures["latency_sample_p95_ms"], figures["throughput_per_s"],
                        _median([r.timings.get("fit_s") for r in runs]), figures["peak_rss_mb"],
                        str(probes[0].get("device", "cpu")), len(runs)))
    return out


def fronts(table_costs: list[Cost]) -> dict[str, set[str]]:
    """Per cost axis (FLOPs, latency): the models on the score-versus-cost Pareto front."""
    from mmbench.diagnostics.efficiency import pareto

    out = {}
    for axis in ("flops_per_sample", "latency_sample_p50_ms"):
        points = {c.model: (c.score, getattr(c, axis)) for c in table_costs
                  if getattr(c, axis) is not None and math.isfinite(c.score)}
        higher = table_costs[0].higher_is_better if table_costs else True
        out[axis] = pareto(points, higher) if points else set()
    return out


def _num(value: float | int | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, int) or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def render_efficiency(all_costs: list[Cost]) -> list[str]:
    """The Markdown section on cost and the accuracy-versus-cost fronts ([] when none)."""
    if not all_costs:
        return []
    out = ["## Efficiency", "",
           "What each model costs on the clean evaluation, medians over its seeds, on the device "
           "named: parameters; forward FLOPs per sample (`torch.utils.flop_counter`; – for a "
           "model that runs no torch); latency per sample, p50 and p95 of the timed `predict_proba` "
           "calls after warm-up (each record's `diagnostics.efficiency` names the batch and the "
           "count); throughput over the whole evaluation; the fit's wall "
           "time; the evaluating process's peak RSS (a bound, shared by everything that process "
           "ran). *front* marks the models no other model beats on the score at no more cost: "
           "F on FLOPs, L on latency.", ""]
    tables = sorted({c.table for c in all_costs})
    for table in tables:
        dataset, task, trained_on = table
        mine = sorted((c for c in all_costs if c.table == table), key=lambda c: c.model)
        on_front = fronts(mine)
        out += [f"### {dataset} · {task}" + ("" if trained_on == dataset else f" · trained on {trained_on}"), "",
                f"| model | {mine[0].metric} | parameters | FLOPs / sample | latency / sample p50 ms | p95 ms "
                "| samples / s | fit s | peak RSS MB | device | front |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|:---:|"]
        for c in mine:
            marks = ("F" if c.model in on_front["flops_per_sample"] else "") + \
                    ("L" if c.model in on_front["latency_sample_p50_ms"] else "")
            out.append(f"| {c.model} | {c.score:.3f} | {_num(c.parameters)} | {_num(c.flops_per_sample)} | "
                       f"{_num(c.latency_sample_p50_ms)} | {_num(c.latency_sample_p95_ms)} | "
                       f"{_num(c.throughput_per_s)} | {_num(c.fit_s)} | {_num(c.peak_rss_mb)} | {c.device} | "
                       f"{marks} |")
        out.append("")
    return out


def render_robustness(diagnostics: Diagnostics) -> list[str]:
    """The Markdown section on robustness ([] when there is none)."""
    if not diagnostics.robustness:
        return []
    from mmbench.diagnostics.perturb import PERTURBATIONS

    out = ["## Robustness", "",
           "Relative robustness: the primary metric under a seeded perturbation of the images or "
           "the texts (applied per batch as the loader hands it over; see "
           "`mmbench/diagnostics/perturb.py`) over the clean one, per model, at severities "
           "1 / 2 / 3 (1.00: unaffected). Each seed's ratio is bootstrapped over records, then "
           "the seeds are pooled as the scores are; the CSV holds every interval "
           "(`<metric>_relative` rows).", ""]
    for table in sorted({r.table for r in diagnostics.robustness}):
        dataset, task, trained_on = table
        mine = [r for r in diagnostics.robustness if r.table == table]
        kinds = [k for k in PERTURBATIONS if any(r.perturbation == k for r in mine)]
        cells: dict[str, dict[tuple[str, int], Robustness]] = defaultdict(dict)
        for r in mine:
            cells[r.model][(r.perturbation, r.severity)] = r
        out += [f"### {dataset} · {task}" + ("" if trained_on == dataset else f" · trained on {trained_on}"), "",
                "| model | " + " | ".join(kinds) + " |", "|---|" + "---:|" * len(kinds)]
        for model in sorted(cells):
            row = []
            for kind in kinds:
                values = [cells[model].get((kind, k)) for k in (1, 2, 3)]
                row.append(" / ".join("–" if v is None or v.ratio != v.ratio else f"{v.ratio:.2f}" for v in values))
            out.append(f"| {model} | " + " | ".join(row) + " |")
        out.append("")
    return out
