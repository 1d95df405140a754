"""Compare two sets of results (result stores, run record files, or suites) model by model,
with paired tests on the stored per-sample predictions. Reads only; loads no model.

Runs pair by (dataset, task, model, training corpus): a model fitted on another corpus
(a transfer run) is never paired with one fitted on the evaluation corpus itself."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmbench.paired import ALPHA, Aligned, align, paired_test, per_sample
from mmbench.report.leaderboard import PredictionsReader, current, train_fingerprint
from mmbench.report.provenance import environment_differences
from mmbench.runner.store import ResultStore, RunRecord, load_record
from mmbench.stats import N_BOOTSTRAP, holm


class CompareError(ValueError):
    """The two sides cannot be compared."""


class FingerprintMismatch(CompareError):
    """The same dataset name was built from different data on the two sides."""


@dataclass
class Source:
    label: str
    records: list[RunRecord]
    read: PredictionsReader


def store_reader(store: ResultStore) -> PredictionsReader:
    """record -> its stored predictions table, or None when the store has none for it."""
    def read(record: RunRecord) -> Any:
        return store.predictions(record.key) if store.has_predictions(record.key) else None

    return read


def open_source(spec: str | Path) -> Source:
    """A result store folder, a run record file (records/<key>.json in a store), or a suite
    name (that suite's records in the default store)."""
    from mmbench.objects import is_url
    from mmbench.runner.remote_store import open_store

    path = Path(spec)
    if is_url(str(spec)):
        store = open_store(str(spec))
        records = store.records()
    elif path.is_dir():
        store = ResultStore(path)
        records = store.records()
    elif path.is_file() and path.suffix == ".json":
        store = ResultStore(path.resolve().parent.parent)
        records = [load_record(path, store.root, match_name=False)]  # a copy may be renamed
    else:
        from mmbench.home import default_store
        from mmbench.runner.suite import SuiteError, load_suite

        try:
            suite = load_suite(str(spec))
        except SuiteError:
            raise CompareError(f"{spec} is neither a result store folder, a run record file nor a suite name") from None
        store = open_store(default_store())
        records = [r for r in store.records() if r.benchmark == suite.name]
    if not records:
        raise CompareError(f"no run records in {spec}")
    return Source(str(spec), current(records), store_reader(store))


@dataclass
class ClassDelta:
    label: str
    n: int
    value_a: float
    value_b: float
    delta: float


# (dataset, task, model, training corpus): the runs of one side that pair with the other's
PairKey = tuple[str, str, str, str]


def _describe(key: PairKey) -> str:
    """dataset/task/model, and the training corpus where it is not the dataset."""
    dataset, task, model, trained_on = key
    return f"{dataset}/{task}/{model}" + ("" if trained_on == dataset else f" (trained on {trained_on})")


@dataclass
class CompareRow:
    dataset: str
    task: str
    model: str
    train_dataset: str  # the training corpus; `dataset` itself when in-distribution
    metric: str
    higher_is_better: bool
    value_a: float  # seed means of the recorded values
    value_b: float
    delta: float  # B - A on the paired records (recorded values when predictions are missing)
    ci_low: float = math.nan
    ci_high: float = math.nan
    p_value: float = math.nan
    p_holm: float = math.nan
    test: str = "no predictions"
    n_paired: int = 0
    right_to_wrong: int | None = None  # per-sample flips, accuracy-type metrics only
    wrong_to_right: int | None = None
    per_class: list[ClassDelta] = field(default_factory=list)

    @property
    def where(self) -> str:
        return _describe((self.dataset, self.task, self.model, self.train_dataset))

    @property
    def transfer(self) -> bool:
        return self.train_dataset != self.dataset

    def regressed(self, threshold: float, alpha: float = ALPHA) -> bool:
        worse = -self.delta if self.higher_is_better else self.delta
        return worse > threshold and self.p_holm < alpha


@dataclass
class Comparison:
    a: str
    b: str
    rows: list[CompareRow]
    warnings: list[str]

    def regressions(self, threshold: float, alpha: float = ALPHA) -> list[CompareRow]:
        return [r for r in self.rows if r.regressed(threshold, alpha)]

    def to_json(self) -> str:
        return json.dumps(_no_nan(asdict(self)), indent=2, default=str)


def _no_nan(value: Any) -> Any:
    """NaN (no test possible) as null, so the output is strict JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def _builds(records: list[RunRecord]) -> dict[str, str]:
    """corpus -> the fingerprint of the build the records evaluated on or fitted on (one per
    corpus, as `current` keeps only the newest)."""
    out = {r.dataset: r.dataset_fingerprint for r in records}
    for r in records:
        if r.transfer and train_fingerprint(r):
            out.setdefault(r.trained_on, train_fingerprint(r))
    return out


def _check_fingerprints(a: Source, b: Source, force: bool) -> list[str]:
    # A training corpus counts too: transfer runs fitted on different builds differ in data.
    fa, fb = _builds(a.records), _builds(b.records)
    warnings = []
    for dataset in sorted(fa.keys() & fb.keys()):
        if fa[dataset] != fb[dataset]:
            msg = (f"dataset {dataset!r} has different fingerprints: A {fa[dataset]} vs B {fb[dataset]}; "
                   "the two sides did not evaluate the same data")
            if not force:
                raise FingerprintMismatch(msg + " (--force compares the record ids both have anyway)")
            warnings.append(f"WARNING: {msg}; compared anyway (--force) on the record ids both have")
    return warnings


def _group(records: list[RunRecord]) -> dict[PairKey, list[RunRecord]]:
    out: dict[PairKey, list[RunRecord]] = defaultdict(list)
    for r in records:
        # A diagnostic view is compared with the same view only: it is named with the model.
        model = r.model if r.view == "clean" else f"{r.model} @ {r.view}"
        out[(r.dataset, r.task, model, r.trained_on)].append(r)
    return out


def _flips(a: np.ndarray, b: np.ndarray, seeds_a: list[int], seeds_b: list[int]) -> tuple[int, int]:
    """(right->wrong, wrong->right) over (sample, seed) for seeds on both sides, else over
    seed-averaged scores; a sample counts as right when its score is at least 0.5."""
    common = sorted(set(seeds_a) & set(seeds_b))
    pairs = ([(a[seeds_a.index(s)], b[seeds_b.index(s)]) for s in common] if common
             else [(a.mean(axis=0), b.mean(axis=0))])
    r2w = sum(int(np.sum((x >= 0.5) & (y < 0.5))) for x, y in pairs)
    w2r = sum(int(np.sum((x < 0.5) & (y >= 0.5))) for x, y in pairs)
    return r2w, w2r


def _class_names(dataset: str, fingerprint: str) -> list[str]:
    from mmbench import data

    try:
        info = data.info(dataset) if data.exists(dataset) else None
    except Exception:  # names are a nicety; an unreadable info must not stop a comparison
        return []
    return list(info.class_names or []) if info is not None and info.fingerprint == fingerprint else []


def _per_class(targets: np.ndarray, a: np.ndarray, b: np.ndarray, names: list[str]) -> list[ClassDelta]:
    if targets.ndim != 1 or not np.issubdtype(targets.dtype, np.integer):
        return []
    out = []
    for c in np.unique(targets):
        mask = targets == c
        va, vb = float(a[mask].mean()), float(b[mask].mean())
        label = names[c] if 0 <= c < len(names) else str(int(c))
        out.append(ClassDelta(label, int(mask.sum()), va, vb, vb - va))
    return out


def _row(key: PairKey, metric: str, runs_a: list[RunRecord], runs_b: list[RunRecord],
         aligned: Aligned | None, seed: int, n_boot: int) -> CompareRow:
    from mmbench.metrics import METRICS

    va = float(np.mean([r.metrics[metric]["value"] for r in runs_a]))
    vb = float(np.mean([r.metrics[metric]["value"] for r in runs_b]))
    higher = bool(runs_a[0].metrics[metric].get("higher_is_better", True))
    row = CompareRow(*key, metric=metric, higher_is_better=higher, value_a=va, value_b=vb, delta=vb - va)
    if aligned is None or not aligned.ids or metric not in METRICS:
        return row
    m, side_a, side_b = METRICS.get(metric), aligned.runs["A"], aligned.runs["B"]
    t = paired_test(m, side_a, side_b, clusters=aligned.clusters, seed=seed, n_boot=n_boot)
    row.delta, row.ci_low, row.ci_high, row.p_value, row.test = t.delta, t.ci_low, t.ci_high, t.p_value, t.test
    row.n_paired = len(aligned.ids)
    if m.per_sample is not None:
        ps_a, ps_b = per_sample(m, side_a), per_sample(m, side_b)
        row.right_to_wrong, row.wrong_to_right = _flips(ps_a, ps_b, side_a.seeds, side_b.seeds)
        names = _class_names(key[0], runs_a[0].dataset_fingerprint)
        row.per_class = _per_class(side_a.inputs[0][0], ps_a.mean(axis=0), ps_b.mean(axis=0), names)
    return row


def compare(a: str | Path, b: str | Path, *, force: bool = False, seed: int = 0,
            n_boot: int = N_BOOTSTRAP) -> Comparison:
    """Every dataset x task x model x training corpus x metric both sides have: A, B, B - A
    with a paired bootstrap CI and p-value (McNemar for 0/1 correctness with one seed a side),
    Holm-corrected over all rows. Where a side has several seeds their spread joins as on the
    leaderboard (`paired.paired_test`: a Student t term per side; the seeds of the two sides
    are not paired, even when their numbers match, as a seed need not train alike on both)."""
    return compare_sources(open_source(a), open_source(b), force=force, seed=seed, n_boot=n_boot)


def compare_sources(sa: Source, sb: Source, *, force: bool = False, seed: int = 0,
                    n_boot: int = N_BOOTSTRAP) -> Comparison:
    """`compare` on two opened sources (e.g. two runs of one store, `report.history`)."""
    warnings = _check_fingerprints(sa, sb, force)
    ga, gb = _group(sa.records), _group(sb.records)
    for side, only in (("A", ga.keys() - gb.keys()), ("B", gb.keys() - ga.keys())):
        warnings += [f"only in {side}: {_describe(k)}" for k in sorted(only)]
    rows = []
    for key in sorted(ga.keys() & gb.keys()):
        tables = {side: [(r.seed, src.read(r)) for r in runs]
                  for side, src, runs in (("A", sa, ga[key]), ("B", sb, gb[key]))}
        complete = all(t is not None for runs in tables.values() for _, t in runs)
        aligned = align(key[1], tables) if complete else None
        if aligned is not None and not aligned.ids:
            warnings.append(f"{_describe(key)}: no record ids in common; nothing to pair")
        differs = environment_differences(ga[key], gb[key])
        if differs:
            warnings.append(f"{_describe(key)}: the runs differ in numeric paths or versions "
                            f"({'; '.join(differs)}): a difference may be the machine's, not the model's")
        primary = ga[key][0].primary_metric
        metrics = [m for m in ga[key][0].metrics if all(m in r.metrics for r in ga[key] + gb[key])]
        for metric in sorted(metrics, key=lambda m: (m != primary, m)):
            rows.append(_row(key, metric, ga[key], gb[key], aligned, seed, n_boot))
    for row, p in zip(rows, holm([r.p_value for r in rows]), strict=True):
        row.p_holm = float(p)
    return Comparison(sa.label, sb.label, rows, warnings)


# ---- rendering ----------------------------------------------------------------------

HEADER = ("dataset", "task", "model", "metric", "A", "B", "delta", "95% CI", "p", "p (Holm)", "test",
          "right→wrong", "wrong→right")


def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def _p(value: float) -> str:
    return "–" if value != value else (f"{value:.4f}" if value >= 1e-4 else f"{value:.1e}")


def _dataset_cell(r: CompareRow) -> str:
    return f"{r.dataset} (trained on {r.train_dataset})" if r.transfer else r.dataset


def _cells(r: CompareRow) -> list[str]:
    ci = "–" if r.ci_low != r.ci_low else f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}]"
    flips = ("–", "–") if r.right_to_wrong is None else (str(r.right_to_wrong), str(r.wrong_to_right))
    return [_dataset_cell(r), r.task, r.model, r.metric, _f(r.value_a), _f(r.value_b), f"{r.delta:+.3f}", ci,
            _p(r.p_value), _p(r.p_holm), r.test, *flips]


def _class_cells(r: CompareRow) -> list[list[str]]:
    return [[_dataset_cell(r), r.model, r.metric, c.label, str(c.n), _f(c.value_a), _f(c.value_b), f"{c.delta:+.3f}"]
            for c in r.per_class]


CLASS_HEADER = ("dataset", "model", "metric", "class", "n", "A", "B", "delta")


def _text_table(header: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    return [line(list(header)), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def _md_table(header: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows)]


def render(comparison: Comparison, fmt: str = "table") -> str:
    """The comparison as a terminal table, Markdown, or JSON."""
    if fmt == "json":
        return comparison.to_json()
    table = _md_table if fmt == "markdown" else _text_table
    loud = [f"!! {w}" if w.startswith("WARNING") else w for w in comparison.warnings]
    title = f"A = {comparison.a}\nB = {comparison.b}\ndelta = B - A; p-values Holm-corrected over all rows"
    out = [f"# mmbench compare\n\n{title}" if fmt == "markdown" else title, *loud]
    out += ["", *table(HEADER, [_cells(r) for r in comparison.rows])]
    per_class = [c for r in comparison.rows for c in _class_cells(r)]
    if per_class:
        out += ["", "Per-class scores (accuracy-type metrics):", "", *table(CLASS_HEADER, per_class)]
    if loud:
        out += ["", *loud]
    return "\n".join(out) + "\n"
