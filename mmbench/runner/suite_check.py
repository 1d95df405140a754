"""What a suite names must exist: models (with config keys their constructor takes),
tasks, adapters, and every corpus it evaluates on or trains on, ingested or buildable.
Each mistake is a SuiteError naming the file, the entry and the key, with a did-you-mean,
before anything is built or trained."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from mmbench.runner.suite import DatasetSpec, ModelSpec, Suite, SuiteError


def _unknown(kind: str, name: str, known: Iterable[str], where: str, key: str) -> SuiteError:
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return SuiteError(f"{_at(where, key)}: unknown {kind} {name!r}{hint} (known: {', '.join(names)})")


def _at(where: str, key: str) -> str:
    """Where a name came from: `file: datasets[i] (dataset 'x'): key`, or the CLI option."""
    return where if where.startswith("--") else f"{where or '<suite>'}: {key}"


def check_suite(suite: Suite, models: list[ModelSpec], datasets: list[DatasetSpec]) -> None:
    """SuiteError for the first name in the chosen models and datasets that does not exist."""
    from mmbench.models import MODELS, facts
    from mmbench.models.config_keys import ModelConfigError, check_keys
    from mmbench.tasks import TASKS

    for spec in models:
        if spec.name not in MODELS:
            raise _unknown("model", spec.name, MODELS.names(), spec.where, "name")
        try:
            check_keys(spec.name, facts.accepted(spec.name), spec.config)
        except ModelConfigError as err:
            raise SuiteError(f"{_at(spec.where, 'config')}: {err}") from None
    for entry in datasets:
        for task in entry.tasks:
            if task not in TASKS:
                raise _unknown("task", task, TASKS.names(), entry.where, "tasks")
        check_available(entry, entry.where, "name")
        if entry.train_on is not None:
            train = next((d for d in suite.datasets if d.name == entry.train_on), DatasetSpec(entry.train_on))
            check_available(train, entry.where, "train_on")


def check_available(spec: DatasetSpec, where: str, key: str) -> None:
    """The dataset is ingested, or its adapter builds it without files (a generated corpus)."""
    from mmbench import data
    from mmbench.adapters import ADAPTERS

    if spec.adapter is not None and spec.adapter not in ADAPTERS:
        raise _unknown("adapter", spec.adapter, ADAPTERS.names(), where, "adapter")
    if data.exists(spec.name):
        return
    adapter = spec.adapter or spec.name
    if adapter in ADAPTERS and not ADAPTERS.get(adapter).needs_root:
        return
    hint: Any = (f"ingest it first: `mmbench ingest {adapter} --root PATH --name {spec.name}`"
                 if adapter in ADAPTERS else
                 f"ingest it first (`mmbench ingest ADAPTER --root PATH --name {spec.name}`) or give "
                 f"the entry an `adapter:` that generates it")
    close = difflib.get_close_matches(spec.name, [i.name for i in data.list_datasets()], n=1, cutoff=0.5)
    mean = f" (did you mean the ingested {close[0]!r}?)" if close else ""
    raise SuiteError(f"{_at(where, key)}: dataset {spec.name!r} is not ingested{mean}; {hint}")
