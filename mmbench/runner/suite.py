"""Benchmark suites as data: which models, on which datasets and tasks, with which seeds."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mmbench.names import BadName, check_name, is_name, name_problem

REPO_ROOT = Path(__file__).resolve().parents[2]


class SuiteError(ValueError):
    pass


@dataclass(frozen=True)
class ModelSpec:
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # shown on the leaderboard; defaults to name
    where: str = field(default="", compare=False)  # "file: models[i]", for error messages

    @property
    def display(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class Robustness:
    """The perturbations and severities a robustness diagnostic scores (default: all of them,
    1-3). A suite names fewer to spend less time: each is one evaluate step per fit."""

    perturbations: tuple[str, ...] = ()  # () : every one of PERTURBATIONS
    severities: tuple[int, ...] = ()  # () : every one of SEVERITIES

    def views(self) -> list[tuple[str, int]]:
        from mmbench.diagnostics.perturb import PERTURBATIONS, SEVERITIES

        return [(kind, k) for kind in (self.perturbations or PERTURBATIONS) for k in (self.severities or SEVERITIES)]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    tasks: tuple[str, ...] = ("classification",)
    adapter: str | None = None  # for a corpus the runner may build itself
    options: dict[str, Any] = field(default_factory=dict)
    # Per-dataset narrowing of the suite: a subset of its model names/labels, other seeds.
    models: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None
    # Train on another corpus (a dataset name), evaluate on this one; None: on this one.
    train_on: str | None = None
    unseen_classes: str = "error"  # classes the model was not fitted on: "error" or "wrong"
    diagnostics: tuple[str, ...] | None = None  # None: the suite's
    robustness: Robustness | None = None  # which perturbations and severities; None: the suite's
    # Per task, the options its evaluation takes (zero-shot `templates`, retrieval `ties`).
    task_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    where: str = field(default="", compare=False)  # "file: datasets[i]", for error messages

    @property
    def trained_on(self) -> str:
        return self.train_on or self.name


@dataclass(frozen=True)
class Suite:
    name: str
    models: tuple[ModelSpec, ...]
    datasets: tuple[DatasetSpec, ...]
    seeds: tuple[int, ...]
    path: str = ""
    # The training budget per training corpus (TrainConfig fields): every model fitted on
    # that corpus gets it, so the protocol stays the same across the families compared there.
    train: dict[str, dict[str, Any]] = field(default_factory=dict)
    diagnostics: tuple[str, ...] = ()  # for every dataset entry that names none of its own
    robustness: Robustness = field(default_factory=Robustness)  # ditto
    # Rows per forward pass when evaluating (None: the model's hint, else the default): how
    # fast and how much memory, not what is measured, so not part of any key.
    eval_batch_size: int | None = None

    def diagnostics_for(self, spec: DatasetSpec) -> tuple[str, ...]:
        return self.diagnostics if spec.diagnostics is None else spec.diagnostics

    def robustness_for(self, spec: DatasetSpec) -> Robustness:
        return self.robustness if spec.robustness is None else spec.robustness

    def budget(self, dataset: str) -> dict[str, Any]:
        """The TrainConfig overrides for fits on `dataset` ({} when the suite sets none)."""
        return dict(self.train.get(dataset, {}))


def suite_dirs() -> list[Path]:
    return [Path.cwd() / "benchmarks", REPO_ROOT / "benchmarks"]


def find_suite(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise SuiteError(f"suite file {path} does not exist")
        return path
    # Anything else is a suite name, looked up in the suite folders only.
    for folder in suite_dirs() if is_name(name_or_path) else []:
        candidate = folder / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for d in suite_dirs() if d.is_dir() for p in d.glob("*.yaml")})
    raise SuiteError(f"unknown suite {name_or_path!r}; known: {', '.join(known) or 'none'}")


SUITE_KEYS = ("name", "seeds", "models", "datasets", "train", "diagnostics", "robustness", "description",
              "eval_batch_size")
MODEL_KEYS = ("name", "config", "label")
DATASET_KEYS = ("name", "tasks", "adapter", "options", "models", "seeds", "train_on", "unseen_classes",
                "diagnostics", "robustness", "task_options")
ROBUSTNESS_KEYS = ("perturbations", "severities")
UNSEEN_CHOICES = ("error", "wrong")
# modality: every classifier also scored with images, then texts, permuted within the split;
# robustness: also scored under each perturbation at each severity (both extra evaluate
# steps of the same fits); calibration and efficiency: reported by every classifier
# evaluation anyway (listing them changes nothing, and says they are wanted).
DIAGNOSTICS = ("modality", "robustness", "calibration", "efficiency")


def _close(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_keys(entry: dict[Any, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in entry:
        if key not in allowed:
            raise SuiteError(f"{where}: unknown key {key!r}{_close(str(key), allowed)} "
                             f"(known: {', '.join(allowed)})")


def _name(value: Any, what: str, where: str) -> str:
    try:
        return check_name(value, what)
    except BadName as err:
        raise SuiteError(f"{where}: {err}") from None


def _names(raw: Any, what: str, where: str) -> list[str]:
    """A list of names; a single string is a one-item list."""
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise SuiteError(f"{where}: {what}s must be a name or a non-empty list of names, got {raw!r}")
    return [_name(v, what, where) for v in items]


def _mapping(raw: Any, what: str, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise SuiteError(f"{where}: {what} must be a mapping of names to values, got {raw!r}")
    return dict(raw)


def _model(entry: Any, where: str) -> ModelSpec:
    if isinstance(entry, str):
        return ModelSpec(_name(entry, "model name", where), where=where)
    if isinstance(entry, dict) and "name" in entry:
        _check_keys(entry, MODEL_KEYS, f"{where}: model {entry['name']!r}")
        label = entry.get("label")
        return ModelSpec(_name(entry["name"], "model name", where),
                         _mapping(entry.get("config"), "a model's config", where),
                         "" if label is None else _name(label, "model label", where), where=where)
    raise SuiteError(f"{where}: a model entry must be a name or {{name, config, label}}, got {entry!r}")


def is_int(value: Any) -> bool:
    """An int and not a bool (a bool is an int to Python, not a seed or severity to anyone)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _seeds(raw: Any, where: str) -> tuple[int, ...]:
    """A count N (seeds 0..N-1) or a list of seeds; a seed listed twice is run once."""
    if is_int(raw) and raw > 0:
        return tuple(range(raw))
    if isinstance(raw, list) and raw and all(is_int(s) and s >= 0 for s in raw):
        return tuple(dict.fromkeys(raw))
    raise SuiteError(f"{where}: 'seeds' must be a positive count or a non-empty list of "
                     f"non-negative integers, got {raw!r}")


def _known_names(raw: Any, key: str, what: str, known: tuple[str, ...], where: str) -> tuple[str, ...]:
    """A name or a list of names under `key`, each one of `known` (did-you-mean otherwise)."""
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise SuiteError(f"{where}: '{key}' must be a name or a list of names, got {raw!r}")
    for item in items:
        if item not in known:
            raise SuiteError(f"{where}: {key}: unknown {what} {item!r}{_close(item, known)} "
                             f"(known: {', '.join(known)})")
    return tuple(dict.fromkeys(items))


def _diagnostics(raw: Any, where: str) -> tuple[str, ...]:
    return _known_names(raw, "diagnostics", "diagnostic", DIAGNOSTICS, where)


def _robustness(raw: Any, where: str) -> Robustness:
    """`robustness: {perturbations: [...], severities: [...]}`, each list optional."""
    from mmbench.diagnostics.perturb import PERTURBATIONS, SEVERITIES

    here = f"{where}: robustness"
    if not isinstance(raw, dict):
        raise SuiteError(f"{here}: must be a mapping with {' and/or '.join(ROBUSTNESS_KEYS)}, got {raw!r}")
    _check_keys(raw, ROBUSTNESS_KEYS, here)
    kinds = _known_names(raw.get("perturbations", []), "perturbations", "perturbation", PERTURBATIONS, here)
    severities = raw.get("severities", [])
    severities = [severities] if is_int(severities) else severities
    if not isinstance(severities, list) or not all(is_int(k) and k in SEVERITIES for k in severities):
        raise SuiteError(f"{here}: 'severities' must be a list of {', '.join(map(str, SEVERITIES))}, "
                         f"got {severities!r}")
    return Robustness(kinds, tuple(sorted(set(severities))))


def _dataset(entry: Any, where: str) -> DatasetSpec:
    if isinstance(entry, str):
        return DatasetSpec(_name(entry, "dataset name", where), where=where)
    if isinstance(entry, dict) and "name" in entry:
        here = f"{where} (dataset {entry['name']!r})"
        _check_keys(entry, DATASET_KEYS, here)
        name = _name(entry["name"], "dataset name", where)
        tasks = _names(entry.get("tasks", "classification"), "task", here)
        adapter = entry.get("adapter")
        if adapter is not None:
            adapter = _name(adapter, "adapter name", here)
        models = _names(entry["models"], "model", here) if "models" in entry else None
        seeds = _seeds(entry["seeds"], here) if "seeds" in entry else None
        train_on = entry.get("train_on")
        if train_on is not None:
            train_on = _name(train_on, "train_on dataset name", here)
        unseen = entry.get("unseen_classes", "error")
        if unseen not in UNSEEN_CHOICES:
            raise SuiteError(f"{here}: 'unseen_classes' must be one of {', '.join(UNSEEN_CHOICES)}, "
                             f"got {unseen!r}")
        diagnostics = _diagnostics(entry["diagnostics"], here) if "diagnostics" in entry else None
        robustness = _robustness(entry["robustness"], here) if "robustness" in entry else None
        return DatasetSpec(name, tuple(dict.fromkeys(tasks)), adapter,
                           _mapping(entry.get("options"), "'options'", here),
                           tuple(models) if models is not None else None, seeds,
                           None if train_on == name else train_on, unseen, diagnostics, robustness,
                           _task_options(entry.get("task_options"), tasks, here), where=here)
    raise SuiteError(f"{where}: a dataset entry must be a name or {{name, tasks, ...}}, got {entry!r}")


def _task_options(raw: Any, tasks: list[str], where: str) -> dict[str, dict[str, Any]]:
    """`task_options:` maps a task of the entry to the options of its evaluation, checked
    by building the task with them."""
    if raw is None:
        return {}
    from mmbench.tasks import TASKS

    options = {}
    for task, values in _mapping(raw, "'task_options'", where).items():
        here = f"{where}: task_options.{task}"
        if task not in tasks:
            raise SuiteError(f"{here}: {task!r} is not among the entry's tasks ({', '.join(tasks)})")
        chosen = _mapping(values, "a task's options", here)
        factory = TASKS.get(task)
        known = tuple(getattr(factory, "option_names", ()))
        _check_keys(chosen, known, here)
        try:
            factory(**chosen)
        except (TypeError, ValueError) as err:
            raise SuiteError(f"{here}: {err}") from None
        options[task] = chosen
    return options


def _eval_batch_size(raw: Any, where: str) -> int | None:
    """A positive batch size for evaluation forward passes, or None (not set)."""
    if raw is None:
        return None
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise SuiteError(f"{where}: 'eval_batch_size' must be a positive integer, got {raw!r}")
    return raw


def _entries(raw: dict[str, Any], key: str, where: str) -> list[Any]:
    value = raw.get(key)
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise SuiteError(f"{where}: '{key}' must be a non-empty list")
    return value


def _unique_models(models: list[ModelSpec], where: str) -> tuple[ModelSpec, ...]:
    """The same model listed twice is one model; one label for two configurations is an error."""
    by_label: dict[str, ModelSpec] = {}
    for spec in models:
        seen = by_label.setdefault(spec.display, spec)
        if seen != spec:
            raise SuiteError(f"{where}: model {spec.display!r} is listed twice with different "
                             f"configurations; give each a distinct 'label'")
    return tuple(by_label.values())


def _check_narrowing(models: tuple[ModelSpec, ...], datasets: list[DatasetSpec], where: str) -> None:
    known = [m.name for m in models] + [m.label for m in models if m.label]
    for d in datasets:
        for name in d.models or ():
            if name not in known:
                raise SuiteError(f"{where}: dataset {d.name!r} lists model {name!r}, which is not "
                                 f"among the suite's models{_close(name, known)} "
                                 f"(known: {', '.join(known)})")


def _budgets(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    """`train:` maps training corpus names to TrainConfig fields; both checked here."""
    from dataclasses import fields as dataclass_fields

    from mmbench.train import TrainConfig

    known = [f.name for f in dataclass_fields(TrainConfig)]
    budgets = {}
    for dataset, values in _mapping(raw, "'train'", where).items():
        here = f"{where}: train.{dataset}"
        name = _name(dataset, "dataset name", f"{where}: train")
        budget = _mapping(values, "a training budget", here)
        _check_keys(budget, tuple(known), here)
        try:
            TrainConfig(**budget)
        except (TypeError, ValueError) as err:
            raise SuiteError(f"{here}: {err}") from None
        budgets[name] = budget
    return budgets


def parse_suite(raw: Any, where: str = "<suite>") -> Suite:
    if not isinstance(raw, dict):
        raise SuiteError(f"{where}: a suite must be a mapping")
    _check_keys(raw, SUITE_KEYS, where)
    # A suite given as data (no file) and without a name is just "suite".
    name = raw.get("name", Path(where).stem if where != "<suite>" else "suite")
    if not is_name(name):
        hint = "" if "name" in raw else " (from the file name; set 'name:' in the suite)"
        raise SuiteError(f"{where}: suite name {name!r} {name_problem(name)}{hint}")
    models = _unique_models([_model(m, f"{where}: models[{i}]")
                             for i, m in enumerate(_entries(raw, "models", where))], where)
    datasets = [_dataset(d, f"{where}: datasets[{i}]") for i, d in enumerate(_entries(raw, "datasets", where))]
    _check_narrowing(models, datasets, where)
    suite = Suite(name=name, models=models, datasets=tuple(datasets),
                 seeds=_seeds(raw.get("seeds", 1), where), path=where,
                 train=_budgets(raw.get("train"), where),
                 diagnostics=_diagnostics(raw.get("diagnostics", []), where),
                 robustness=_robustness(raw.get("robustness", {}), where),
                 eval_batch_size=_eval_batch_size(raw.get("eval_batch_size"), where))
    _check_robustness_used(suite, "robustness" in raw, where)
    return suite


def _check_robustness_used(suite: Suite, top_level: bool, where: str) -> None:
    """A robustness choice where no diagnostics ask for robustness is a mistake, not a no-op."""
    wanting = [d for d in suite.datasets if "robustness" in suite.diagnostics_for(d)]
    for d in suite.datasets:
        if d.robustness is not None and d not in wanting:
            raise SuiteError(f"{d.where}: 'robustness' is set but this entry's diagnostics do not include "
                             f"robustness")
    if top_level and not any(d.robustness is None for d in wanting):
        raise SuiteError(f"{where}: 'robustness' is set but no dataset entry that takes it asks for the "
                         f"robustness diagnostic")


def load_suite(name_or_path: str) -> Suite:
    path = find_suite(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SuiteError(f"{path}: not valid YAML: {err}") from err
    return parse_suite(raw, str(path))


def list_suites() -> list[str]:
    return sorted({p.stem for d in suite_dirs() if d.is_dir() for p in d.glob("*.yaml")})
