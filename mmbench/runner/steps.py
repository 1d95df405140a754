"""Running steps: one *unit* is a fit step (or none) and the evaluate steps that use it,
run together in one worker, so that a model that cannot be stored is still fitted only
once per run and every evaluation of one fitted model shares its embeddings.

A unit returns its records and predictions; the driver alone writes them to the store.
The fitted model is written by the unit itself, as an artifact (it does not travel
through the driver), under the fit's claim so that two processes never fit it twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mmbench.arrow_setup import for_a_run
from mmbench.data import DatasetInfo
from mmbench.heap import freeze_imports
from mmbench.precision import computing_in
from mmbench.runner.plan import EvalStep, FitStep, effective_config
from mmbench.runner.store import RunRecord
from mmbench.tasks.base import Fitted


@dataclass(frozen=True)
class Unit:
    fit: FitStep | None
    fit_key: str | None  # None: no fit step
    evals: tuple[tuple[str, EvalStep], ...]  # (record key, step)
    infos: dict[str, DatasetInfo]  # every corpus the unit reads, by name
    store_root: str
    threads: int = 1
    device: str = "cpu"
    precision: str = "fp32"  # mmbench.precision: fp32, or autocast's bf16 / fp16
    uid: int = 0  # which unit of the run (results come back from other processes as copies)
    eval_batch: int | None = None  # rows per evaluation forward pass (None: model hint or default)


@dataclass
class EvalResult:
    key: str
    record: RunRecord
    predictions: Any  # pyarrow.Table


@dataclass
class UnitResult:
    unit: Unit
    fit: str  # "fitted", "loaded" (from its artifact), or "none" (used as it comes)
    fit_s: float
    results: list[EvalResult] = field(default_factory=list)
    stored: bool = False  # the fitted model was stored as an artifact


@dataclass
class UnitFailure:
    """A unit that raised on every attempt: its last error, for the driver to record."""

    unit: Unit
    error: str  # "ExceptionType: message"
    traceback: str
    attempts: int


# Errors that say the input is wrong (a task the corpus cannot serve, a bad model config):
# every attempt and every step like it would fail alike, so they end the run at once, with
# their own message, instead of being retried and recorded. By class name, as the CLI's.
INPUT_ERRORS = ("TaskError", "ModelConfigError", "RegistryError", "DatasetNotFound", "SuiteError",
                "ModelFileError", "DeviceError", "BadName", "OutsideHome", "NumericsError", "ArtifactError",
                "AdapterError", "StoreNotAFolder")


def is_input_error(err: BaseException) -> bool:
    return type(err).__name__ in INPUT_ERRORS


def attempt(unit: Unit, retries: int) -> UnitResult | UnitFailure:
    """`run_unit`, tried again up to `retries` times when it raises; the last error when
    every attempt did. (A unit is deterministic given its seed, so a retry can only help
    with faults from outside it: a full disk, a flaky mount, memory.) Input errors raise."""
    import traceback

    for tried in range(1, retries + 2):
        try:
            return run_unit(unit)
        except Exception as err:  # noqa: BLE001 (every error of a step is reported, none ends the run)
            if is_input_error(err):
                raise
            last = (f"{type(err).__name__}: {err}", traceback.format_exc(), tried)
    return UnitFailure(unit, *last)


def run_unit(unit: Unit) -> UnitResult:
    """Obtain the unit's model (fit, or load its artifact) and run its evaluations, with
    `unit.threads` torch threads (a fixed count makes a seed's result independent of the
    machine's core count)."""
    for_a_run()  # a Ray worker's process is not the driver's
    freeze_imports()
    with _threads(unit.threads), computing_in(unit.precision, unit.device):
        return _run(unit)


@dataclass(frozen=True)
class FitDone:
    """A fit step run on its own: its model is in the store as an artifact."""

    how: str  # "fitted" or "loaded"
    fit_s: float
    stored: bool


def fit_then(unit: Unit) -> FitDone | UnitResult:
    """The unit's fit step alone (for executors that run fit and evaluate steps as separate
    tasks, the fitted model travelling through the store); a model that cannot be stored
    cannot travel, so it is evaluated here and the whole unit's result comes back."""
    for_a_run()
    freeze_imports()
    with _threads(unit.threads), computing_in(unit.precision, unit.device):
        corpora = _Corpora(unit.infos)
        fitted, how, stored = obtain(unit, corpora)
        if how == "fitted" and not stored:
            return _evaluate_all(unit, fitted, how, stored, corpora)
        return FitDone(how, fitted.fit_s, stored)


@contextmanager
def _threads(count: int) -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _run(unit: Unit) -> UnitResult:
    corpora = _Corpora(unit.infos)
    fitted, how, stored = obtain(unit, corpora)
    return _evaluate_all(unit, fitted, how, stored, corpora)


def _evaluate_all(unit: Unit, fitted: Fitted, how: str, stored: bool, corpora: _Corpora) -> UnitResult:
    from mmbench.tasks.batching import evaluating_with
    from mmbench.tasks.embeddings import EmbeddingCache

    out = UnitResult(unit, how, fitted.fit_s, stored=stored)
    cache = EmbeddingCache()  # one fitted model: its embeddings serve every task below
    with evaluating_with(unit.eval_batch):
        for key, step in unit.evals:
            out.results.append(evaluate(step, key, unit, fitted, corpora, cache))
    return out


class _Corpora:
    """Each corpus loaded (memory-mapped) once per unit, with its row limit; from a remote
    home, the build the run planned is pulled first (nothing is fetched when it is here)."""

    def __init__(self, infos: dict[str, DatasetInfo]) -> None:
        self.infos = infos
        self.loaded: dict[tuple[str, int | None], Any] = {}

    def get(self, name: str, limit: int | None) -> Any:
        from mmbench import data
        from mmbench.dataset_sync import pull
        from mmbench.tasks.base import limit_rows

        if (name, limit) not in self.loaded:
            pull(name, self.infos[name].fingerprint)
            self.loaded[(name, limit)] = limit_rows(data.load(name), limit)
        return self.loaded[(name, limit)]


def _fresh_model(spec: Any, device: str) -> Any:
    from mmbench.models import create

    model = create(spec.name, **spec.config)
    place = getattr(model, "use_device", None)
    if callable(place):
        place(device)
    return model


def obtain(unit: Unit, corpora: _Corpora) -> tuple[Fitted, str, bool]:
    """(the fitted model, how it was obtained, whether it was stored now)."""
    from mmbench.envinfo import environment
    from mmbench.runner.artifacts import saveable
    from mmbench.runner.claims import claim
    from mmbench.runner.fitting import fit
    from mmbench.runner.remote_store import open_artifacts
    from mmbench.tasks import TASKS

    if unit.fit is None or unit.fit_key is None:
        spec = unit.evals[0][1].model
        return Fitted(_fresh_model(spec, unit.device)), "none", False
    step, key = unit.fit, unit.fit_key
    model = _fresh_model(step.model, unit.device)
    artifacts = open_artifacts(unit.store_root)
    with claim(artifacts.store_root, key):  # another process fitting it: wait, then load it
        if saveable(model) and artifacts.has(key):
            return artifacts.load(key, model), "loaded", False
        info = unit.infos[step.train_dataset.name]
        dataset = corpora.get(step.train_dataset.name, step.limit)
        training = TASKS.get(step.task)().training(step.objective, dataset, info)
        fitted = fit(model, training, step.seed)
        if not saveable(model):
            return fitted, "fitted", False
        identity = {**step.identity(info.fingerprint), "train_dataset": step.train_dataset.name}
        artifacts.save(key, fitted, identity, {**environment(), "device": unit.device,
                                               "precision": unit.precision})
        return fitted, "fitted", True


def evaluate(step: EvalStep, key: str, unit: Unit, fitted: Fitted, corpora: _Corpora,
             cache: Any) -> EvalResult:
    """One evaluate step: the task scores the fitted model on the step's corpus."""
    from mmbench.tasks import TASKS
    from mmbench.tasks.base import EvalContext

    started = time.perf_counter()
    task = TASKS.get(step.task)(**step.task_options)
    info = unit.infos[step.dataset.name]
    dataset = corpora.get(step.dataset.name, step.limit)
    output = task.evaluate(fitted, dataset, info, EvalContext(step.seed, cache, step.dataset.unseen_classes, step.view))
    record = _record(step, key, unit, fitted, task, info, output, time.perf_counter() - started)
    return EvalResult(key, record, output.predictions)


def _record(step: EvalStep, key: str, unit: Unit, fitted: Fitted, task: Any, info: DatasetInfo,
            output: Any, seconds: float) -> RunRecord:
    from mmbench.envinfo import environment
    from mmbench.metrics import METRICS
    from mmbench.models.base import config_hash
    from mmbench.tasks.batching import eval_batch_size

    model = fitted.model
    higher = {name: METRICS.get(name).higher_is_better if name in METRICS else True
              for name in output.metrics}
    config = model.config() if hasattr(model, "config") else dict(step.model.config)
    train = unit.infos[step.train_dataset] if step.transfer else info
    return RunRecord(
        key=key, benchmark=step.benchmark, dataset=step.dataset.name,
        dataset_fingerprint=info.fingerprint, task=step.task, eval_split=output.eval_split,
        model=step.model.display, model_config=config,
        config_hash=config_hash(step.model.name, effective_config(step.model.name, step.model.config)),
        seed=step.seed, limit=step.limit, n=output.n,
        metrics={k: {**v.to_dict(), "higher_is_better": higher[k]} for k, v in output.metrics.items()},
        primary_metric=task.primary_metric,
        model_info={"registry_name": step.model.name,
                    "num_parameters": int(model.num_parameters()) if hasattr(model, "num_parameters") else None,
                    "fit": output.fit, "fit_loaded": fitted.loaded,
                    "eval_batch_size": eval_batch_size(model),
                    # the fit step's own peak resident memory, wherever and whenever it ran (0: none)
                    "fit_peak_mb": round(fitted.fit_peak_mb, 1)},
        env={**environment(), "device": unit.device, "precision": unit.precision},
        # fit_s (in the task's timings) is the fit step's own time, wherever it ran;
        # total_s is this evaluate step's.
        timings={**output.timings, "total_s": seconds},
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        train_dataset=step.train_dataset, train_fingerprint=train.fingerprint, view=step.view,
        fit_key=unit.fit_key or "", diagnostics=dict(output.diagnostics),
    )
