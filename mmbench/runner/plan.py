"""A suite expanded into a plan of two kinds of step.

- A *fit step* fits one model (name and effective config) on one training corpus with
  one seed for one objective (what the tasks it serves train on: `classification`,
  `vqa:vocab=1000`, `contrastive`, ...). Its key holds everything that changes the
  weights and nothing else, so it is the key of the fitted-model artifact.
- An *evaluate step* scores a fitted model (or one that needs no fitting) on one corpus,
  split, task and view; its key is the key of its run record.

One fit step serves every evaluate step with the same model, training corpus, seed and
objective: the three embedding tasks of a dual encoder, or a classifier scored on its
own corpus and on a shifted one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

from mmbench.models.config_keys import ModelConfigError
from mmbench.names import check_key, check_name
from mmbench.runner.suite import DatasetSpec, ModelSpec, Robustness, Suite

# Bumped when the harness's fitting protocol (the shared trainer, the views tasks train
# on) changes in a way that changes weights: every artifact fitted before is refitted.
FIT_PROTOCOL_VERSION = "3"  # 2: convolution weights channels-last; 3: JPEG decoded in draft mode


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def effective_config(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The model's full configuration, defaults included, so a changed default is a new job."""
    from mmbench.models import facts

    cache_key = (name, json.dumps(config, sort_keys=True, default=str))
    if cache_key not in _CONFIGS:
        _CONFIGS[cache_key] = facts.effective_config(name, config, _built_config)
    return _CONFIGS[cache_key]


def _built_config(name: str, config: dict[str, Any]) -> dict[str, Any]:
    from mmbench.models import create

    try:
        model = create(name, **config)  # constructors are cheap: no weights, no data
    except (TypeError, ValueError) as err:  # a nested key or a value the model refuses
        raise ModelConfigError(f"model {name!r}: config {config} is refused: {err}") from None
    return model.config() if hasattr(model, "config") else dict(config)


_CONFIGS: dict[tuple[str, str], dict[str, Any]] = {}


def code_version(model_name: str) -> str:
    """The version of a model's code that goes into its artifact key: the class's own
    `fit_version` when it declares one, else a hash of the source of its module."""
    from mmbench.models import facts

    return facts.code_version(model_name)


@dataclass(frozen=True)
class FitStep:
    model: ModelSpec
    train_dataset: DatasetSpec
    objective: str
    seed: int
    limit: int | None
    task: str  # a task with this objective: its `training()` builds what the model trains on

    def identity(self, fingerprint: str) -> dict[str, Any]:
        """Everything that changes the weights, and nothing else."""
        return {"model": self.model.name, "config": effective_config(self.model.name, self.model.config),
                "train_fingerprint": fingerprint, "objective": self.objective, "seed": self.seed,
                "limit": self.limit, "code": code_version(self.model.name),
                "protocol": FIT_PROTOCOL_VERSION}

    def key(self, fingerprint: str) -> str:
        """The artifact key; the training corpus's name is shown, its fingerprint decides."""
        digest = _digest(self.identity(fingerprint))
        parts = ("fit", check_name(self.model.name, "model name"),
                 check_name(self.train_dataset.name, "dataset name"))
        return check_key("__".join(parts) + f"__s{self.seed}__{digest}", "artifact key")


@dataclass(frozen=True)
class EvalStep:
    benchmark: str
    dataset: DatasetSpec  # evaluated on
    task: str
    model: ModelSpec
    seed: int
    limit: int | None
    fit: FitStep | None = None  # None: the model is used as it comes
    view: str = "clean"

    @property
    def train_dataset(self) -> str:
        return self.fit.train_dataset.name if self.fit is not None else self.dataset.name

    @property
    def transfer(self) -> bool:
        return self.train_dataset != self.dataset.name

    @property
    def task_options(self) -> dict[str, Any]:
        return dict(self.dataset.task_options.get(self.task, {}))

    def key(self, fingerprint: str, train_fingerprint: str | None = None) -> str:
        """The run record key. An in-distribution, clean evaluation keeps the key it had
        before fitting was a step of its own, so stores written then are still read."""
        from mmbench.models.base import config_hash

        config = effective_config(self.model.name, self.model.config)
        ident: dict[str, Any] = {"dataset": self.dataset.name, "fingerprint": fingerprint,
                                 "task": self.task, "model": self.model.name,
                                 "config": config_hash(self.model.name, config),
                                 "seed": self.seed, "limit": self.limit}
        if self.transfer:
            ident.update(train_dataset=self.train_dataset, train_fingerprint=train_fingerprint)
        if self.view != "clean":
            ident["view"] = self.view
        if self.task_options:  # they change what is measured; steps without any keep their keys
            ident["task_options"] = self.task_options
        # Checked again here: the key becomes file names in the store.
        parts = [check_name(self.dataset.name, "dataset name"), check_name(self.task, "task name"),
                 check_name(self.model.display, "model label")]
        if self.transfer:
            parts.insert(1, "from-" + check_name(self.train_dataset, "dataset name"))
        return check_key("__".join(parts) + f"__s{self.seed}__{_digest(ident)}")

    def identity(self) -> tuple[Any, ...]:
        """What makes two steps of one plan the same step (specs hold dicts: unhashable)."""
        return (self.dataset.name, self.train_dataset, self.task, self.model.name, self.model.label,
                json.dumps(self.model.config, sort_keys=True, default=str), self.seed, self.limit,
                self.view, json.dumps(self.task_options, sort_keys=True, default=str))


@dataclass
class Plan:
    evals: list[EvalStep] = field(default_factory=list)

    @property
    def fits(self) -> list[FitStep]:
        """The distinct fit steps the evaluations need, in plan order."""
        seen: dict[tuple[Any, ...], FitStep] = {}
        for step in self.evals:
            if step.fit is not None:
                seen.setdefault(fit_identity(step.fit), step.fit)
        return list(seen.values())


def fit_identity(step: FitStep) -> tuple[Any, ...]:
    """What makes two fit steps of one plan the same (before fingerprints are known)."""
    return (step.model.name, json.dumps(step.model.config, sort_keys=True, default=str),
            step.train_dataset.name, step.objective, step.seed, step.limit)


def positive_int(value: Any, what: str) -> int:
    """`value` if it is an int of at least 1 (not a bool), else ValueError naming `what`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


def _names(values: list[str] | str | None, what: str) -> list[str] | None:
    if values is None:
        return None
    items = [values] if isinstance(values, str) else list(values)
    return [check_name(v, what) for v in items]


def plan(suite: Suite, *, models: list[str] | str | None = None,
         datasets: list[str] | str | None = None, seeds: int | None = None,
         limit: int | None = None) -> Plan:
    """Expand a suite (optionally narrowed) into evaluate steps and the fit steps they need,
    dataset-major; a step listed twice (from two entries) is planned once."""
    from mmbench.runner.suite_check import check_suite

    models, datasets = _names(models, "model name"), _names(datasets, "dataset name")
    if seeds is not None:
        positive_int(seeds, "seeds")
    if limit is not None:
        positive_int(limit, "limit")
    chosen_models = [m for m in suite.models if not models or m.name in models or m.label in models]
    chosen_data = [d for d in suite.datasets if not datasets or d.name in datasets]
    if models:
        known = {m.name for m in suite.models} | {m.label for m in suite.models}
        chosen_models += [ModelSpec(m, where="--models") for m in dict.fromkeys(models) if m not in known]
    if datasets:
        known_d = {d.name for d in suite.datasets}
        chosen_data += [DatasetSpec(d, where="--datasets") for d in dict.fromkeys(datasets) if d not in known_d]
    check_suite(suite, chosen_models, chosen_data)
    steps: dict[tuple[Any, ...], EvalStep] = {}
    for d in chosen_data:
        # --seeds on the command line wins over a dataset's own seeds, which win over the suite's.
        seed_list = tuple(range(seeds)) if seeds is not None else (d.seeds or suite.seeds)
        for m in chosen_models:
            if d.models is not None and not models and not ({m.name, m.label} & set(d.models)):
                continue
            train = training_spec(suite, d)
            budgeted = with_budget(m, suite.budget(train.name))
            for task in d.tasks:
                views = diagnostic_views(task, suite.diagnostics_for(d), suite.robustness_for(d))
                for s in seed_list:
                    fit = fit_step(budgeted, train, task, s, limit)
                    for view in views:
                        step = EvalStep(suite.name, d, task, budgeted, s, limit, fit, view)
                        steps.setdefault(step.identity(), step)
    return Plan(list(steps.values()))


def diagnostic_views(task: str, diagnostics: tuple[str, ...], robustness: Robustness | None = None) -> tuple[str, ...]:
    """The views a task's evaluations run under: clean, and, when the task can evaluate
    views, the permutations (modality reliance) and the perturbations at the severities
    (robustness) the suite asks for: by default every perturbation at every severity."""
    from mmbench.diagnostics.views import CLEAN, PERMUTATIONS, view_name
    from mmbench.tasks import TASKS

    views = [CLEAN]
    if getattr(TASKS.get(task), "supports_views", False):
        if "modality" in diagnostics:
            views += [view_name(kind) for kind in PERMUTATIONS]
        if "robustness" in diagnostics:
            views += [view_name(kind, severity=k) for kind, k in (robustness or Robustness()).views()]
    return tuple(views)


def with_budget(model: ModelSpec, budget: dict[str, Any]) -> ModelSpec:
    """`model` with the suite's training budget for its training corpus in its `train`
    config, for models that take one; keys the model's own config sets win."""
    from mmbench.models import MODELS, facts

    if not budget or model.name not in MODELS:
        return model
    accepted = facts.accepted(model.name)
    if accepted is not None and "train" not in accepted:
        return model  # nothing to train (majority, zero-shot wrappers)
    own = model.config.get("train") or {}
    config = {**model.config, "train": {**budget, **own}}
    return replace(model, config=config)


def training_spec(suite: Suite, spec: DatasetSpec) -> DatasetSpec:
    """The dataset a model evaluated on `spec` is fitted on: `spec` itself, or its
    `train_on` corpus (the suite's entry of that name when it has one, for its adapter)."""
    if spec.train_on is None:
        return spec
    return next((d for d in suite.datasets if d.name == spec.train_on),
                DatasetSpec(spec.train_on, where=f"{spec.where}: train_on"))


def fit_step(model: ModelSpec, train: DatasetSpec, task: str, seed: int, limit: int | None) -> FitStep | None:
    """The fit step an evaluation needs, or None when the task uses the model as it comes."""
    from mmbench.models import facts
    from mmbench.tasks import TASKS

    objective = TASKS.get(task)().objective(facts.capabilities(model.name))
    return None if objective is None else FitStep(model, train, objective, seed, limit, task)
