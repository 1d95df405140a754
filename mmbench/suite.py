"""Benchmark suites as data: which models, on which datasets and tasks, with which seeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]


class SuiteError(ValueError):
    pass


@dataclass(frozen=True)
class ModelSpec:
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # shown on the leaderboard; defaults to name

    @property
    def display(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    tasks: tuple[str, ...] = ("classification",)
    adapter: str | None = None  # for a corpus the runner may build itself
    options: dict[str, Any] = field(default_factory=dict)
    # Per-dataset narrowing of the suite: a subset of its model names/labels, other seeds.
    models: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    models: tuple[ModelSpec, ...]
    datasets: tuple[DatasetSpec, ...]
    seeds: tuple[int, ...]
    path: str = ""


def suite_dirs() -> list[Path]:
    return [Path.cwd() / "benchmarks", REPO_ROOT / "benchmarks"]


def find_suite(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise SuiteError(f"suite file {path} does not exist")
        return path
    for folder in suite_dirs():
        candidate = folder / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for d in suite_dirs() if d.is_dir() for p in d.glob("*.yaml")})
    raise SuiteError(f"unknown suite {name_or_path!r}; known: {', '.join(known) or 'none'}")


def _model(entry: Any, where: str) -> ModelSpec:
    if isinstance(entry, str):
        return ModelSpec(entry)
    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
        return ModelSpec(entry["name"], dict(entry.get("config") or {}), str(entry.get("label", "")))
    raise SuiteError(f"{where}: a model entry must be a name or {{name, config}}, got {entry!r}")


def _seeds(raw: Any, where: str) -> tuple[int, ...]:
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return tuple(range(raw))
    if isinstance(raw, list) and raw and all(isinstance(s, int) for s in raw):
        return tuple(raw)
    raise SuiteError(f"{where}: 'seeds' must be a positive count or a list of ints, got {raw!r}")


def _dataset(entry: Any, where: str) -> DatasetSpec:
    if isinstance(entry, str):
        return DatasetSpec(entry)
    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
        tasks = entry.get("tasks") or ["classification"]
        models = entry.get("models")
        seeds = _seeds(entry["seeds"], where) if "seeds" in entry else None
        return DatasetSpec(entry["name"], tuple(tasks), entry.get("adapter"),
                           dict(entry.get("options") or {}),
                           tuple(models) if models else None, seeds)
    raise SuiteError(f"{where}: a dataset entry must be a name or {{name, tasks}}, got {entry!r}")


def parse_suite(raw: Any, where: str = "<suite>") -> Suite:
    if not isinstance(raw, dict):
        raise SuiteError(f"{where}: a suite must be a mapping")
    for key in ("models", "datasets"):
        if not isinstance(raw.get(key), list) or not raw[key]:
            raise SuiteError(f"{where}: '{key}' must be a non-empty list")
    seeds = _seeds(raw.get("seeds", 1), where)
    return Suite(
        name=str(raw.get("name", Path(where).stem)),
        models=tuple(_model(m, where) for m in raw["models"]),
        datasets=tuple(_dataset(d, where) for d in raw["datasets"]),
        seeds=seeds,
        path=where,
    )


def load_suite(name_or_path: str) -> Suite:
    path = find_suite(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SuiteError(f"{path}: not valid YAML: {err}") from err
    return parse_suite(raw, str(path))


def list_suites() -> list[str]:
    return sorted({p.stem for d in suite_dirs() if d.is_dir() for p in d.glob("*.yaml")})
