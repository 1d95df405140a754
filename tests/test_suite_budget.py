"""A suite's training budget per training corpus (`train:`): checked when the suite is read,
given to every trainable model fitted on that corpus (transfer evaluations included), part of
the fit key, and never forced onto a key the model's own config sets."""

from __future__ import annotations

from typing import Any

import pytest

from mmbench.runner.plan import effective_config, plan
from mmbench.runner.suite import SuiteError, parse_suite

SHIFTED = {"name": "shapes-shifted", "adapter": "shapes", "options": {"background": "light"},
           "train_on": "shapes"}


def _suite(train: Any, models: list[Any] | None = None) -> dict[str, Any]:
    return {"name": "budget", "models": models or ["majority", "concat-fusion"],
            "datasets": ["shapes", SHIFTED], "train": train}


def _train_config(step: Any) -> dict[str, Any]:
    return effective_config(step.model.name, step.model.config).get("train", {})


def test_every_trainable_fit_on_the_corpus_gets_the_budget() -> None:
    steps = plan(parse_suite(_suite({"shapes": {"epochs": 3, "min_epochs": 3}}))).evals
    concat = [s for s in steps if s.model.name == "concat-fusion"]
    assert len(concat) == 2  # shapes, and shapes-shifted scored by the shapes fit
    assert all(_train_config(s)["epochs"] == 3 and _train_config(s)["min_epochs"] == 3 for s in concat)
    assert concat[0].fit is not None and concat[1].fit is not None
    fingerprint = "f" * 64
    assert concat[0].fit.key(fingerprint) == concat[1].fit.key(fingerprint)  # one fit serves both
    majority = [s for s in steps if s.model.name == "majority"]
    assert all("train" not in s.model.config for s in majority)  # nothing to train


def test_the_budget_changes_the_fit_key_and_the_record_key() -> None:
    plain = plan(parse_suite(_suite({}))).evals
    budgeted = plan(parse_suite(_suite({"shapes": {"epochs": 3}}))).evals
    pick = [next(s for s in steps if s.model.name == "concat-fusion") for steps in (plain, budgeted)]
    fingerprint = "f" * 64
    assert pick[0].key(fingerprint) != pick[1].key(fingerprint)
    assert pick[0].fit is not None and pick[1].fit is not None
    assert pick[0].fit.key(fingerprint) != pick[1].fit.key(fingerprint)


def test_a_budget_for_another_corpus_changes_nothing_here() -> None:
    plain = plan(parse_suite(_suite({}))).evals
    other = plan(parse_suite(_suite({"openmoji": {"epochs": 3}}))).evals
    assert [s.key("f" * 64) for s in plain] == [s.key("f" * 64) for s in other]


def test_the_models_own_train_keys_win() -> None:
    own = {"name": "concat-fusion", "config": {"train": {"epochs": 5}}}
    steps = plan(parse_suite(_suite({"shapes": {"epochs": 3, "lr": 1e-3}}, models=[own]))).evals
    config = _train_config(steps[0])
    assert (config["epochs"], config["lr"]) == (5, 1e-3)


@pytest.mark.parametrize("train, message", [
    ({"shapes": {"epoch": 3}}, "train.shapes: unknown key 'epoch'; did you mean 'epochs'?"),
    ({"shapes": {"schedule": "linear"}}, "train.shapes: train schedule must be one of constant, cosine"),
    ({"shapes": {"warmup": 1.5}}, "train.shapes: train warmup is a share of the steps"),
    ({"../x": {"epochs": 3}}, "train: dataset name '../x'"),
    ({"shapes": 3}, "train.shapes: a training budget must be a mapping"),
    ([1, 2], "'train' must be a mapping"),
])
def test_budget_mistakes_name_the_suite_and_the_key(train: Any, message: str) -> None:
    with pytest.raises(SuiteError) as caught:
        parse_suite(_suite(train), "suites/budget.yaml")
    assert message in str(caught.value) and "suites/budget.yaml" in str(caught.value)
