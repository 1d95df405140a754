"""Evaluation views for modality reliance (issue 12): permutations without fixed points,
seeded and deterministic, that move one modality and nothing else; run as extra evaluate
steps of the same fits; a text-only model shows no image reliance and an image-only model
no text reliance; the leaderboard and its CSV carry the sections."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mmbench
from mmbench.diagnostics.views import View, ViewError, apply_view, derangement, parse_view, view_name
from mmbench.loader import column
from mmbench.report.compare import store_reader
from mmbench.report.diagnostics import diagnose
from mmbench.report.leaderboard import aggregate, current, render_csv, render_markdown
from mmbench.runner.plan import plan
from mmbench.runner.store import ResultStore
from mmbench.runner.suite import SuiteError, parse_suite


@pytest.mark.parametrize("n", [2, 3, 10, 257])
def test_a_derangement_moves_every_row_and_is_seeded(n: int) -> None:
    perm = derangement(n, 0)
    assert sorted(perm.tolist()) == list(range(n)) and not (perm == np.arange(n)).any()
    assert (derangement(n, 0) == perm).all()
    if n > 3:
        assert not (derangement(n, 1) == perm).all()


def test_view_names_round_trip_and_bad_ones_are_refused() -> None:
    assert view_name("clean") == "clean" and parse_view("clean") == View("clean")
    assert parse_view(view_name("permute-images", 3)) == View("permute-images", 3)
    for bad in ("permute-images", "permute-images:seed=x", "blur:seed=1", "clean:seed=0"):
        with pytest.raises(ViewError, match="unknown view"):
            parse_view(bad)


@pytest.fixture(scope="module")
def shapes_test(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from mmbench.adapters.shapes import ShapesAdapter
    from mmbench.data import build, load

    home = tmp_path_factory.mktemp("home")
    build(ShapesAdapter(scale=0.02), home=home)
    return load("shapes", home)["test"]


@pytest.mark.parametrize("kind, moved, kept", [
    ("permute-images", ["images"], ["id", "label", "question"]),
    ("permute-texts", ["question"], ["id", "label", "images"]),
])
def test_a_view_moves_one_modality_and_nothing_else(shapes_test: Any, kind: str, moved: list[str],
                                                    kept: list[str]) -> None:
    for split in (shapes_test, shapes_test.select(range(len(shapes_test) - 1, -1, -1))):  # with indices
        seen = apply_view(split, view_name(kind, 5))
        perm = derangement(len(split), 5)
        for name in moved:
            assert column(seen, name).to_pylist() == [column(split, name).to_pylist()[i] for i in perm]
        for name in kept:
            assert column(seen, name).to_pylist() == column(split, name).to_pylist()
        again = apply_view(split, view_name(kind, 5))
        assert column(again, moved[0]).to_pylist() == column(seen, moved[0]).to_pylist()
    assert apply_view(shapes_test, "clean") is shapes_test


BUDGET = {"shapes": {"epochs": 1, "min_epochs": 1}}


def _suite(tmp_path: Path, diagnostics: Any = ("modality",), models: tuple[str, ...] = (
        "text-only", "image-only", "concat-fusion")) -> str:
    path = tmp_path / "views.yaml"
    path.write_text(json.dumps({"name": "views", "seeds": 2, "models": list(models),
                                "datasets": ["shapes"], "train": BUDGET,
                                "diagnostics": list(diagnostics)}))
    return str(path)


def test_modality_plans_two_views_per_evaluation_and_no_extra_fit() -> None:
    suite = parse_suite({"name": "s", "models": ["text-only", "image-only", "tiny-clip"], "seeds": 2,
                         "datasets": [{"name": "shapes", "tasks": ["classification"]},
                                      {"name": "openmoji", "tasks": ["retrieval"]}],
                         "diagnostics": ["modality", "calibration"]})
    steps = plan(suite, datasets=["shapes"], models=["text-only", "image-only"]).evals
    assert sorted({s.view for s in steps}) == ["clean", "permute-images:seed=0", "permute-texts:seed=0"]
    assert len(steps) == 2 * 2 * 3  # models x seeds x views
    assert len(plan(suite, datasets=["shapes"], models=["text-only", "image-only"]).fits) == 2 * 2
    keys = {s.key("f" * 64) for s in steps}
    assert len(keys) == len(steps)  # the view is part of every key
    # retrieval cannot evaluate a permuted view: it runs clean only
    retrieval = [s for s in plan(suite, datasets=["openmoji"], models=["tiny-clip"]).evals]
    assert retrieval and {s.view for s in retrieval} == {"clean"}


def test_a_dataset_entry_can_turn_the_diagnostics_off() -> None:
    suite = parse_suite({"name": "s", "models": ["text-only"], "diagnostics": "modality",
                         "datasets": [{"name": "shapes", "diagnostics": []}]})
    assert {s.view for s in plan(suite).evals} == {"clean"}


def test_an_unknown_diagnostic_is_refused_with_a_suggestion() -> None:
    with pytest.raises(SuiteError, match="unknown diagnostic 'modalty'; did you mean 'modality'"):
        parse_suite({"name": "s", "models": ["text-only"], "datasets": ["shapes"],
                     "diagnostics": ["modalty"]}, "x.yaml")


@pytest.fixture(scope="module")
def views_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    tmp = tmp_path_factory.mktemp("views")
    store = tmp / "store"
    records = mmbench.run(_suite(tmp), store=store, limit=200)
    return store, records


def test_views_are_evaluations_of_the_same_fits(views_run: tuple[Path, list[Any]]) -> None:
    store, records = views_run
    assert len(records) == 3 * 2 * 3  # models x seeds x views
    assert len({r.fit_key for r in records}) == 3 * 2  # one fit per model and seed
    assert len(list((store / "artifacts").iterdir())) == 3 * 2
    by_key = {(r.model, r.seed, r.view): r for r in records}
    assert by_key[("text-only", 0, "permute-images:seed=0")].metrics["accuracy"]["value"] == \
        by_key[("text-only", 0, "clean")].metrics["accuracy"]["value"]


def test_a_unimodal_model_does_not_rely_on_the_modality_it_does_not_read(
        views_run: tuple[Path, list[Any]]) -> None:
    store, _ = views_run
    results = ResultStore(store)
    records = current(results.records())
    found = {(r.model, r.view.partition(":")[0]): r for r in diagnose(records, store_reader(results)).reliance}
    for model, kind in (("text-only", "permute-images"), ("image-only", "permute-texts")):
        drop = found[(model, kind)]
        assert (drop.drop, drop.ci_low, drop.ci_high) == (0.0, 0.0, 0.0) and drop.seeds == 2
    # the modality a model reads does move its predictions (its probabilities, at least: a
    # model fitted one epoch on 200 rows may still answer one class everywhere)
    moved = found[("text-only", "permute-texts")]
    assert moved.ci_high - moved.ci_low > 0
    read = store_reader(results)
    by_key = {(r.model, r.seed, r.view): r for r in records}

    def probs(model: str, view: str) -> np.ndarray:
        return np.asarray(read(by_key[(model, 0, view)]).column("probs").to_pylist())

    assert np.abs(probs("image-only", "clean") - probs("image-only", "permute-images:seed=0")).max() > 1e-4
    assert (probs("text-only", "clean") == probs("text-only", "permute-images:seed=0")).all()


def test_a_view_rerun_in_another_store_gives_identical_predictions(
        views_run: tuple[Path, list[Any]], tmp_path: Path) -> None:
    store, first = views_run
    again = mmbench.run(_suite(tmp_path, models=("text-only",)), store=tmp_path / "store", limit=200)
    reader_a, reader_b = store_reader(ResultStore(store)), store_reader(ResultStore(tmp_path / "store"))
    mine = {(r.seed, r.view): r for r in first if r.model == "text-only"}
    for record in again:
        twin = mine[(record.seed, record.view)]
        assert record.key == twin.key
        assert reader_b(record).column("probs").to_pylist() == reader_a(twin).column("probs").to_pylist()


def test_the_leaderboard_has_the_diagnostic_sections_and_long_rows(views_run: tuple[Path, list[Any]]) -> None:
    store, _ = views_run
    results = ResultStore(store)
    records, read = results.records(), store_reader(results)
    rows = aggregate(records, read)
    diagnostics = diagnose(current(records), read)
    markdown = render_markdown(rows, diagnostics)
    assert "## Modality reliance" in markdown and "## Calibration" in markdown and "## Efficiency" in markdown
    assert "Multimodal gain on accuracy: concat-fusion − " in markdown
    ranked = markdown.split("## Modality reliance")[0]
    assert "permute" not in ranked and "| ece" not in ranked  # the ranked tables: clean scores only
    table = list(csv.DictReader(io.StringIO(render_csv(rows, diagnostics))))
    views = {r["view"] for r in table}
    assert views == {"clean", "permute-images:seed=0", "permute-texts:seed=0"}
    drops = [r for r in table if r["metric"] == "accuracy_drop"]
    assert len(drops) == 3 * 2
    assert any(r["metric"] == "multimodal_gain" for r in table)
    assert {r["metric"] for r in table if r["view"] == "clean"} >= {"accuracy", "ece", "brier", "nll",
                                                                     "flops_per_sample", "fit_s"}
    flops = {r["model"]: float(r["value"]) for r in table if r["metric"] == "flops_per_sample"}
    assert flops["concat-fusion"] > flops["image-only"] > flops["text-only"] > 0


def test_every_clean_classifier_record_has_calibration_cost_and_a_reliability_diagram(
        views_run: tuple[Path, list[Any]]) -> None:
    _, records = views_run
    for record in records:
        if record.view != "clean":  # a view only needs its scores
            assert not {"ece", "brier"} & set(record.metrics) and not record.diagnostics
            continue
        assert {"ece", "ece_adaptive", "brier", "nll"} <= set(record.metrics)
        bins = record.diagnostics["reliability"]
        assert len(bins) == 15 and sum(b["count"] for b in bins) == record.n
        assert record.diagnostics["efficiency"]["flops_per_sample"] is not None


def test_compare_pairs_each_view_with_the_same_view(views_run: tuple[Path, list[Any]]) -> None:
    from mmbench.report.compare import compare

    store, _ = views_run
    rows = compare(store, store).rows
    models = {r.model for r in rows}
    assert {"text-only", "text-only @ permute-images:seed=0", "text-only @ permute-texts:seed=0"} <= models
    accuracy = [r for r in rows if r.metric == "accuracy"]
    assert accuracy and all(r.delta == 0.0 and r.n_paired == 200 for r in accuracy)
