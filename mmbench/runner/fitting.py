"""The fit step's work: a model given a task's Training is fitted under the harness
protocol; a task only says what to train on (`Task.training`) and how to score."""

from __future__ import annotations

import time
from typing import Any

from mmbench.tasks.base import EvalContext, Fitted, TaskError, TaskOutput, Training


def fit(model: Any, training: Training, seed: int) -> Fitted:
    """Fit `model` on `training` with `seed`: `fit_contrastive(train, val, seed=)` for a
    contrastive objective, else `fit(train, val, num_classes=, seed=)`."""
    from mmbench.diagnostics.memory import StepPeak

    if not training.contrastive and not training.classes:
        raise TaskError(f"objective {training.objective!r}: no classes to fit")
    started = time.perf_counter()
    with StepPeak() as peak:
        if training.contrastive:
            report = model.fit_contrastive(training.train, training.val, seed=seed)
        else:
            report = model.fit(training.train, training.val, num_classes=len(training.classes), seed=seed)
    return Fitted(model, training.objective, list(training.classes), dict(training.extra),
                  report=dict(getattr(report, "__dict__", None) or {}),
                  fit_s=time.perf_counter() - started, fit_peak_mb=peak.mb)


def fit_for(task: Any, model: Any, dataset: Any, info: Any, seed: int) -> Fitted:
    """The model fitted for `task` on `dataset` (or as it comes, when the task fits none)."""
    objective = task.objective(model)
    if objective is None:
        return Fitted(model)
    return fit(model, task.training(objective, dataset, info), seed)


def fit_and_evaluate(task: Any, model: Any, dataset: Any, info: Any, *, seed: int,
                     ctx: EvalContext | None = None) -> TaskOutput:
    """Fit then evaluate on one corpus in one call (tests, notebooks); the runner does the
    two as separate steps, so that one fit serves many evaluations."""
    fitted = fit_for(task, model, dataset, info, seed)
    return task.evaluate(fitted, dataset, info, ctx or EvalContext(seed))
