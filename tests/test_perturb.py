"""Perturbations for robustness views: pure functions of (input, severity, seed) that do
what they say, more so at a higher severity; per-record seeding independent of batching;
robustness views planned as evaluations of the same fits and reported on the leaderboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import mmbench
from mmbench.diagnostics.perturb import (
    IMAGE_PERTURBATIONS,
    SYNONYMS,
    TEXT_PERTURBATIONS,
    blur,
    contrast,
    gaussian_noise,
    jpeg,
    occlusion,
    perturb_batch,
    record_rng,
    word_dropout,
)
from mmbench.diagnostics.views import ViewError, parse_view, view_name
from mmbench.loader import Batch
from mmbench.report.compare import store_reader
from mmbench.report.diagnostics import diagnose
from mmbench.report.leaderboard import aggregate, current, render_markdown
from mmbench.runner.store import ResultStore


def _picture(seed: int = 0) -> np.ndarray:
    """A 32x32 picture with sharp edges: a bright square and a dark disc on grey noise."""
    rng = np.random.default_rng(seed)
    image = 0.4 + 0.05 * rng.random((3, 32, 32))
    image[:, 4:14, 4:14] = 0.95
    yy, xx = np.mgrid[:32, :32]
    image[:, (yy - 22) ** 2 + (xx - 22) ** 2 < 30] = 0.05
    return image.astype(np.float32)


def _high_frequency(image: np.ndarray) -> float:
    return float(np.abs(np.diff(image, axis=1)).mean() + np.abs(np.diff(image, axis=2)).mean())


@pytest.mark.parametrize("name", sorted(IMAGE_PERTURBATIONS))
def test_an_image_perturbation_is_pure_and_keeps_the_range(name: str) -> None:
    fn, image = IMAGE_PERTURBATIONS[name], _picture()
    first = fn(image, 2, record_rng(0, "r1"))
    assert first.shape == image.shape and first.dtype == image.dtype
    assert (first == fn(image, 2, record_rng(0, "r1"))).all()
    assert first.min() >= 0.0 and first.max() <= 1.0 and not (first == image).all()
    assert (image == _picture()).all()  # the input is left as it was


def test_blur_lowers_high_frequency_energy_more_at_higher_severity() -> None:
    image = _picture()
    energy = [_high_frequency(blur(image, k, record_rng(0, "r"))) for k in (1, 2, 3)]
    assert _high_frequency(image) > energy[0] > energy[1] > energy[2]
    assert abs(blur(image, 3, record_rng(0, "r")).mean() - image.mean()) < 0.01  # no brightness change


def test_noise_jpeg_occlusion_and_contrast_grow_with_severity() -> None:
    image = _picture()

    def error(fn: Any, k: int) -> float:
        return float(np.abs(fn(image, k, record_rng(3, "r")) - image).mean())

    for fn in (gaussian_noise, jpeg, occlusion):
        errors = [error(fn, k) for k in (1, 2, 3)]
        assert errors[0] < errors[1] < errors[2], fn.__name__
    spread = [float(contrast(image, k, record_rng(3, "r")).std()) for k in (1, 2, 3)]
    assert image.std() > spread[0] > spread[1] > spread[2]
    grey = [float((occlusion(image, k, record_rng(3, "r")) == 0.5).all(axis=0).mean()) for k in (1, 2, 3)]
    assert grey == pytest.approx([0.10, 0.20, 0.35], abs=0.04)


QUESTIONS = [f"is there a red circle left of a square number {i}?" for i in range(300)]


@pytest.mark.parametrize("name", sorted(TEXT_PERTURBATIONS))
def test_a_text_perturbation_is_pure_and_changes_more_words_at_higher_severity(name: str) -> None:
    fn = TEXT_PERTURBATIONS[name]

    def changed(k: int) -> float:
        out = [fn(q, k, record_rng(0, q)) for q in QUESTIONS]
        return float(np.mean([sum(a != b for a, b in zip(q.split(), o.split(), strict=False)) + abs(
            len(q.split()) - len(o.split())) for q, o in zip(QUESTIONS, out, strict=True)]))

    assert fn(QUESTIONS[0], 2, record_rng(1, "x")) == fn(QUESTIONS[0], 2, record_rng(1, "x"))
    rates = [changed(k) for k in (1, 2, 3)]
    assert 0 < rates[0] < rates[1] < rates[2]


def test_word_dropout_never_empties_a_text_and_synonyms_come_from_the_list() -> None:
    assert word_dropout("circle", 3, record_rng(0, "a")) == "circle"
    words = ["red", "picture", "dog", "happy", "small", "blue"]  # single-word synonyms only
    swaps = 0
    for seed in range(20):
        out = TEXT_PERTURBATIONS["synonyms"](" ".join(words), 3, record_rng(seed, "q")).split()
        assert len(out) == len(words)
        for original, new in zip(words, out, strict=True):
            assert new == original or new in SYNONYMS[original]
            swaps += new != original
    assert 0.4 * 20 * len(words) < swaps < 0.8 * 20 * len(words)  # severity 3 swaps 60%


def _batch(ids: list[str]) -> Batch:
    images = torch.from_numpy(np.stack([_picture(i) for i in range(len(ids))]))
    return Batch(ids, images, [f"is there a red circle {i}?" for i in ids], torch.zeros(len(ids), dtype=torch.long))


@pytest.mark.parametrize("name", ["gaussian-noise", "occlusion", "typos"])
def test_a_record_is_perturbed_alike_in_any_batch(name: str) -> None:
    both = perturb_batch(_batch(["a", "b"]), name, 2, seed=7)
    alone = _batch(["a", "b"])
    alone.ids, alone.images, alone.texts = ["b"], alone.images[1:], alone.texts[1:]
    alone = perturb_batch(alone, name, 2, seed=7)
    assert (both.images[1] == alone.images[0]).all() and both.texts[1] == alone.texts[0]
    assert (both.labels == 0).all() and both.ids == ["a", "b"]


def test_perturbation_view_names_round_trip_and_bad_ones_are_refused() -> None:
    view = view_name("blur", severity=2)
    assert view == "blur:severity=2:seed=0" and parse_view(view).severity == 2
    for bad in ("blur:seed=0", "blur:severity=4:seed=0", "smudge:severity=1:seed=0",
                "blur:seed=0:severity=1", "blur:severity=01:seed=0"):
        with pytest.raises(ViewError):
            parse_view(bad)


def test_robustness_views_run_as_evaluations_of_the_same_fits(tmp_path: Path) -> None:
    suite = tmp_path / "robust.yaml"
    suite.write_text(json.dumps({"name": "robust", "seeds": 1, "models": ["text-only", "image-only"],
                                 "datasets": ["shapes"], "train": {"shapes": {"epochs": 1, "min_epochs": 1}},
                                 "diagnostics": ["robustness"]}))
    store = tmp_path / "store"
    records = mmbench.run(str(suite), store=store, limit=100)
    per_model = 1 + (len(IMAGE_PERTURBATIONS) + len(TEXT_PERTURBATIONS)) * 3
    assert len(records) == 2 * per_model and len({r.fit_key for r in records}) == 2
    results = ResultStore(store)
    diagnostics = diagnose(current(results.records()), store_reader(results))
    found = {(r.model, r.view): r for r in diagnostics.robustness}
    assert len(found) == 2 * (per_model - 1)
    for (model, view), r in found.items():
        reads = "image" if model == "image-only" else "text"
        untouched = (view.partition(":")[0] in TEXT_PERTURBATIONS) == (reads == "image")
        if untouched:  # a perturbation of the modality a model does not read changes nothing
            assert (r.ratio, r.ci_low, r.ci_high) == (1.0, 1.0, 1.0), (model, view)
    markdown = render_markdown(aggregate(results.records(), store_reader(results)), diagnostics)
    assert "## Robustness" in markdown and "| image-only |" in markdown.split("## Robustness")[1]


def _views_of(raw: dict[str, Any], dataset: str = "shapes") -> set[str]:
    from mmbench.runner.plan import plan
    from mmbench.runner.suite import parse_suite

    return {step.view for step in plan(parse_suite(raw)).evals if step.dataset.name == dataset}


def test_a_suite_picks_the_perturbations_and_severities_it_scores() -> None:
    base = {"name": "pick", "models": ["text-only"], "datasets": ["shapes"], "diagnostics": ["robustness"]}
    every = _views_of(base)
    assert len(every) == 1 + (len(IMAGE_PERTURBATIONS) + len(TEXT_PERTURBATIONS)) * 3
    picked = _views_of({**base, "robustness": {"perturbations": ["blur", "typos"], "severities": [2]}})
    assert picked == {"clean", view_name("blur", severity=2), view_name("typos", severity=2)}
    only_severe = _views_of({**base, "robustness": {"severities": 3}})
    assert len(only_severe) == 1 + len(IMAGE_PERTURBATIONS) + len(TEXT_PERTURBATIONS)
    assert all(v == "clean" or ":severity=3:" in v for v in only_severe)
    # A dataset entry's own choice wins over the suite's, which the other entry takes.
    entry = {"name": "shapes", "robustness": {"perturbations": ["jpeg"], "severities": [1]}}
    other = {"name": "other", "adapter": "shapes"}
    both = {**base, "datasets": [entry, other], "robustness": {"severities": [2]}}
    assert _views_of(both) == {"clean", view_name("jpeg", severity=1)}
    assert _views_of(both, "other") == {"clean"} | {view_name(kind, severity=2) for kind in
                                                    (*IMAGE_PERTURBATIONS, *TEXT_PERTURBATIONS)}


@pytest.mark.parametrize(("robustness", "message"), [
    ({"perturbation": ["blur"]}, "unknown key 'perturbation'; did you mean 'perturbations'?"),
    ({"perturbations": ["blurr"]}, "perturbations: unknown perturbation 'blurr'; did you mean 'blur'?"),
    ({"severities": [4]}, "'severities' must be a list of 1, 2, 3"),
    ({"severities": [True]}, "'severities' must be a list of 1, 2, 3"),
    (["blur"], "robustness: must be a mapping"),
])
def test_a_bad_robustness_choice_names_the_key(robustness: Any, message: str) -> None:
    from mmbench.runner.suite import SuiteError, parse_suite

    with pytest.raises(SuiteError, match=message.replace("(", r"\(").replace("?", r"\?")):
        parse_suite({"name": "bad", "models": ["text-only"], "datasets": ["shapes"], "robustness": robustness},
                    "s.yaml")


def test_a_robustness_choice_without_the_diagnostic_is_an_error() -> None:
    from mmbench.runner.suite import SuiteError, parse_suite

    base = {"name": "idle", "models": ["text-only"], "datasets": ["shapes"]}
    with pytest.raises(SuiteError, match="no dataset entry that takes it asks for the robustness diagnostic"):
        parse_suite({**base, "diagnostics": ["modality"], "robustness": {"severities": [2]}}, "s.yaml")
    entry = {"name": "shapes", "diagnostics": ["modality"], "robustness": {"severities": [2]}}
    with pytest.raises(SuiteError, match=r"s.yaml: datasets\[0\] \(dataset 'shapes'\): 'robustness' is set but"):
        parse_suite({**base, "datasets": [entry]}, "s.yaml")
    # Taken by one entry that asks for robustness: fine.
    asking = {"name": "shapes", "diagnostics": ["robustness"]}
    parse_suite({**base, "datasets": [asking, "shapes-shifted"], "robustness": {"severities": [2]}}, "s.yaml")
