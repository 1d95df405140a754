"""What a task returns, and how it picks its splits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmbench.stats import Estimate

TRAIN_SPLITS = ("train",)
VAL_SPLITS = ("val", "validation", "dev", "dev_seen", "minival")
EVAL_SPLITS = ("test", "val", "validation", "dev", "dev_seen", "minival")


class TaskError(ValueError):
    """The dataset cannot serve this task (no labels, no eval split, ...)."""


# What a task needs of a model: alternatives, each a set of methods the model class has.
TRAINED_CLASSIFIER = ("fit", "predict_proba")
DUAL_ENCODER = ("embed_images", "embed_texts")


def accepts(task_cls: Any, model_cls: Any) -> bool:
    """Whether a model class has one of the method sets the task can use."""
    options = getattr(task_cls, "capabilities", None)
    if not options:
        return True
    return any(all(callable(getattr(model_cls, m, None)) for m in methods) for methods in options)


@dataclass
class Training:
    """What a fit step gives a model: the views it trains on and the label space it learns.

    Tasks whose `objective` is the same build the same Training from one corpus, so one
    fitted model serves all of them.
    """

    objective: str
    train: Any
    val: Any | None
    classes: list[str] = field(default_factory=list)  # the label space; [] for contrastive
    contrastive: bool = False  # fit_contrastive(train, val, seed) instead of fit(...)
    # What an evaluation needs besides the weights (e.g. the mean label count of a
    # multi-label corpus); stored in the artifact's manifest with the classes.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fitted:
    """A model ready to evaluate, and what its fit step knew."""

    model: Any
    objective: str | None = None  # None: not fitted under the harness (used as it comes)
    classes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)  # the fit report
    fit_s: float = 0.0  # how long the fit took (when it ran, in this run or the stored one)
    fit_peak_mb: float = 0.0  # the fit step's peak resident memory (likewise)
    loaded: bool = False  # read back from a stored artifact


@dataclass
class EvalContext:
    """What an evaluation is given besides the fitted model and the corpus."""

    seed: int
    cache: Any = None  # an EmbeddingCache shared by the evaluations of one fitted model
    # Classes of the evaluation corpus the model was never fitted on: "error", or "wrong"
    # (scored as wrong answers and reported).
    unseen_classes: str = "error"
    view: str = "clean"  # what the evaluation shows the model of its split (diagnostics.views)


@dataclass
class TaskOutput:
    eval_split: str
    n: int
    metrics: dict[str, Estimate]
    predictions: Any  # pyarrow.Table keyed by record id
    timings: dict[str, float] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    # Data a diagnostic draws from this evaluation (a reliability diagram's bins), stored in
    # the record as it is.
    diagnostics: dict[str, Any] = field(default_factory=dict)


def _has_labels(split: Any) -> bool:
    from mmbench.loader import column

    return "label" in split.column_names and column(split, "label").null_count < len(split)


def pick_splits(dataset: Any) -> tuple[Any, Any | None, str]:
    """(train, val or None, eval split name) for a train-then-evaluate protocol."""
    names = list(dataset.keys())
    train = next((n for n in TRAIN_SPLITS if n in names), None)
    if train is None:
        raise TaskError(f"no train split among {names}")
    evaluable = [n for n in EVAL_SPLITS if n in names and n != train and _has_labels(dataset[n])]
    if not evaluable:
        raise TaskError(f"no labelled evaluation split among {names}")
    eval_name = evaluable[0]
    val = next((n for n in VAL_SPLITS if n in names and n not in (train, eval_name)), None)
    return dataset[train], dataset[val] if val else None, eval_name


def default_eval_split(names: list[str]) -> str | None:
    """The split an evaluation would use when no targets decide: the first of EVAL_SPLITS
    that is not the train split (a fit keeps it out of its validation split)."""
    train = next((n for n in TRAIN_SPLITS if n in names), None)
    return next((n for n in EVAL_SPLITS if n in names and n != train), None)


def limit_rows(dataset: Any, limit: int | None) -> Any:
    """Keep the first `limit` rows of every split (for smoke runs)."""
    if limit is None:
        return dataset
    return {k: v.select(range(min(limit, len(v)))) for k, v in dataset.items()}
