"""Per-task options in suites (zero-shot templates, retrieval's tie rule) and the
evaluation batch size (run setting > suite > model hint > default)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mmbench
from mmbench.metrics.retrieval import i2t_ranks, t2i_ranks
from mmbench.runner.plan import plan
from mmbench.runner.store import ResultStore
from mmbench.runner.suite import SuiteError, parse_suite
from mmbench.tasks.batching import DEFAULT_EVAL_BATCH, eval_batch_size, evaluating_with
from tests import colour_corpus

CLIP = {"name": "tiny-clip", "config": {**colour_corpus.TINY_CLIP,
                                        "train": {**colour_corpus.TINY_TRAIN, "epochs": 1, "min_epochs": 1}}}


def _suite(tmp: Path, task_options: dict[str, Any] | None = None, **top: Any) -> str:
    entry: dict[str, Any] = {"name": "colours", "tasks": ["retrieval", "zero-shot"]}
    if task_options is not None:
        entry["task_options"] = task_options
    path = tmp / f"suite-{len(list(tmp.glob('suite-*')))}.yaml"
    path.write_text(json.dumps({"name": "opts", "seeds": 1, "models": [CLIP], "datasets": [entry], **top}))
    return str(path)


def _entry(**extra: Any) -> dict[str, Any]:
    return {"name": "s", "models": ["majority"],
            "datasets": [{"name": "colours", "tasks": ["retrieval", "zero-shot"], **extra}]}


@pytest.mark.parametrize("options,message", [
    ({"classification": {"x": 1}}, "'classification' is not among the entry's tasks"),
    ({"retrieval": {"tie": "optimistic"}}, "unknown key 'tie'; did you mean 'ties'"),
    ({"retrieval": {"ties": "random"}}, "ties must be one of pessimistic, optimistic"),
    ({"zero-shot": {"templates": ["no slot"]}}, "must hold exactly one"),
    ({"zero-shot": {"templates": "nope"}}, "unknown template set 'nope'"),
    ({"retrieval": "optimistic"}, "must be a mapping"),
])
def test_bad_task_options_are_refused_when_the_suite_is_read(options: dict[str, Any], message: str) -> None:
    with pytest.raises(SuiteError, match=message):
        parse_suite(_entry(task_options=options), "s.yaml")


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "64"])
def test_a_bad_eval_batch_size_is_refused(value: Any) -> None:
    with pytest.raises(SuiteError, match="'eval_batch_size' must be a positive integer"):
        parse_suite({**_entry(), "eval_batch_size": value}, "s.yaml")


def test_task_options_change_the_key_of_their_task_only() -> None:
    colour_corpus.build()
    plain = {s.task: s.key("f") for s in plan(parse_suite(_entry(), "s.yaml")).evals}
    chosen = {s.task: s.key("f") for s in plan(parse_suite(
        _entry(task_options={"retrieval": {"ties": "optimistic"}}), "s.yaml")).evals}
    assert plain["zero-shot"] == chosen["zero-shot"] and plain["retrieval"] != chosen["retrieval"]


def test_the_tie_rules_bound_each_other_and_agree_without_ties() -> None:
    sim = np.zeros((3, 3))  # everything tied
    text_image = np.arange(3)
    assert i2t_ranks(sim, text_image).tolist() == [3.0, 3.0, 3.0]
    assert i2t_ranks(sim, text_image, "optimistic").tolist() == [1.0, 1.0, 1.0]
    assert t2i_ranks(sim, text_image).tolist() == [3, 3, 3]
    assert t2i_ranks(sim, text_image, "optimistic").tolist() == [1, 1, 1]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.integers(2, 9), st.booleans())
def test_optimistic_ranks_never_exceed_pessimistic_and_match_without_ties(seed: int, n: int, tied: bool) -> None:
    rng = np.random.default_rng(seed)
    text_image = rng.integers(0, n, size=2 * n)
    sim = rng.integers(0, 3, size=(n, 2 * n)).astype(float) if tied else rng.normal(size=(n, 2 * n))
    for ranks in (i2t_ranks, t2i_ranks):
        low, high = ranks(sim, text_image, "optimistic"), ranks(sim, text_image)
        assert np.all((low <= high) | np.isnan(high))
        if not tied:
            np.testing.assert_array_equal(low, high)


def test_the_run_setting_beats_the_model_hint_which_beats_the_default() -> None:
    class Hinted:
        eval_batch_size = 17

    assert eval_batch_size(object()) == DEFAULT_EVAL_BATCH
    assert eval_batch_size(Hinted()) == 17
    with evaluating_with(5):
        assert eval_batch_size(Hinted()) == 5
    with evaluating_with(None):
        assert eval_batch_size(Hinted()) == 17


def test_suite_task_options_reach_the_evaluations(tmp_path: Path) -> None:
    colour_corpus.build()
    options = {"retrieval": {"ties": "optimistic"}, "zero-shot": {"templates": ["a {c} thing", "{}"]}}
    records = {r.task: r for r in mmbench.run(_suite(tmp_path, options), store=tmp_path / "store")}
    assert records["retrieval"].model_info["fit"]["ties"] == "optimistic"
    assert records["zero-shot"].model_info["fit"]["templates"] == ["a {c} thing", "{}"]
    assert records["zero-shot"].model_info["fit"]["templates_from"] == "suite"
    plain = {r.task: r for r in mmbench.run(_suite(tmp_path), store=tmp_path / "store")}
    assert plain["retrieval"].model_info["fit"]["ties"] == "pessimistic"
    assert plain["zero-shot"].model_info["fit"]["templates_from"] == "default"
    assert {plain[t].key for t in plain}.isdisjoint({records[t].key for t in records})


def test_the_eval_batch_size_is_recorded_and_reproduces(tmp_path: Path) -> None:
    """Batches of another size sum in another order, so scores may move in their last
    float32 bits, and a rank decided by an exact tie with them: the record says which
    size ran, and the same size gives the same records."""
    colour_corpus.build()
    default = mmbench.run(_suite(tmp_path), store=tmp_path / "a")
    small = mmbench.run(_suite(tmp_path), store=tmp_path / "b", eval_batch_size=7)
    again = mmbench.run(_suite(tmp_path, eval_batch_size=7), store=tmp_path / "c")  # the suite's setting
    assert {r.model_info["eval_batch_size"] for r in default} == {DEFAULT_EVAL_BATCH}
    assert {r.model_info["eval_batch_size"] for r in small} == {r.model_info["eval_batch_size"] for r in again} == {7}
    assert [r.key for r in small] == [r.key for r in default]  # not part of what a record is of

    def measured(store: str, records: list[Any]) -> dict[str, Any]:
        return {r.key: (r.metrics, ResultStore(tmp_path / store).predictions(r.key).to_pylist()) for r in records}

    assert measured("b", small) == measured("c", again)
    ours = ResultStore(tmp_path / "b").predictions(small[1].key).to_pydict()
    theirs = ResultStore(tmp_path / "a").predictions(default[1].key).to_pydict()
    assert small[1].task == "zero-shot" and ours["prediction"] == theirs["prediction"]
    np.testing.assert_allclose(np.array(ours["scores"]), np.array(theirs["scores"]), rtol=1e-5, atol=1e-6)
