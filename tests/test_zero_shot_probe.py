"""Zero-shot classification (prompt ensembles, template spread), the linear probe, and the
embedding tasks run by the runner next to a classifier they cannot serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmbench.loader import Batch
from mmbench.metrics import METRICS
from mmbench.models import create
from mmbench.prompts import TEMPLATE_SETS, class_phrase, prompts, templates
from mmbench.runner.fitting import fit_and_evaluate
from mmbench.tasks import TASKS
from mmbench.tasks.base import TaskError
from mmbench.tasks.linear_probe import C_GRID, choose_c, full_proba
from tests import colour_corpus

CLASSES = list(colour_corpus.COLOURS)


class ColourOracle:
    """Image -> its mean colour. Text -> the colour it names, except that a text starting
    with "nothing" embeds to one constant vector (a template that carries no signal)."""

    image_size = 8

    def embed_images(self, batch: Batch) -> np.ndarray:
        return batch.images.mean(dim=(2, 3)).numpy()

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        table = {name: np.array(rgb, dtype=np.float32) / 255 for name, rgb in colour_corpus.COLOURS.items()}
        return np.stack([np.ones(3, dtype=np.float32) if t.startswith("nothing")
                         else next(v for k, v in table.items() if k in t) for t in texts])


def test_templates_and_prompts() -> None:
    assert templates() == TEMPLATE_SETS["default"] and len(templates()) >= 5
    assert templates("plain") == ("{}",)
    assert templates(["a {} thing", "{}!"]) == ("a {} thing", "{}!")
    assert class_phrase("golden_retriever") == "golden retriever"
    assert prompts("Food & Drink", ("an emoji of {}.",)) == ["an emoji of Food & Drink."]
    with pytest.raises(ValueError, match="unknown template set"):
        templates("nope")
    with pytest.raises(ValueError, match="exactly one"):
        templates(["no slot"])


def test_templates_may_use_the_c_placeholder_of_clip_benchmark_files() -> None:
    assert templates(["a photo of a {c}.", "{c} {x}"]) == ("a photo of a {c}.", "{c} {x}")
    assert prompts("golden_retriever", ("a photo of a {c}.", "{} in {c}?".replace("{c}", "a box"))) == [
        "a photo of a golden retriever.", "golden retriever in a box?"]
    assert prompts("x", ("{c} {not a slot}",)) == ["x {not a slot}"]  # other braces stay
    with pytest.raises(ValueError, match="exactly one"):
        templates(["{c} and {}"])


def test_zero_shot_uses_the_templates_the_corpus_ships_unless_the_suite_names_some() -> None:
    from dataclasses import replace

    info, ds = colour_corpus.build()
    shipped = replace(info, extra={"templates": ["a {c} square", "nothing to see: {c}"]})
    out = fit_and_evaluate(TASKS.get("zero-shot")(), ColourOracle(), ds, shipped, seed=0)
    assert out.fit["templates"] == ["a {c} square", "nothing to see: {c}"] and out.fit["templates_from"] == "corpus"
    assert out.metrics["template_acc_min"].value == 0.25  # the constant template was used
    named = fit_and_evaluate(TASKS.get("zero-shot")(templates="plain"), ColourOracle(), ds, shipped, seed=0)
    assert named.fit["templates"] == ["{}"] and named.fit["templates_from"] == "suite"
    default = fit_and_evaluate(TASKS.get("zero-shot")(), ColourOracle(), ds, info, seed=0)
    assert default.fit["templates_from"] == "default"


def test_template_metrics_by_hand() -> None:
    labels = np.array([0, 1, 2, 0])
    preds = np.array([[0, 0], [1, 0], [2, 0], [0, 1]])  # template 0: 4/4 right, template 1: 1/4
    values = {name: METRICS.get(name).fn(labels, preds) for name in
              ("template_acc_mean", "template_acc_std", "template_acc_min", "template_acc_max")}
    assert values == {"template_acc_mean": 0.625, "template_acc_std": 0.375,
                      "template_acc_min": 0.25, "template_acc_max": 1.0}
    assert not METRICS.get("template_acc_std").higher_is_better
    indices = np.random.default_rng(0).integers(0, 4, size=(7, 4))
    draws = METRICS.get("template_acc_std").resampled(labels, preds, indices)
    np.testing.assert_allclose(draws, [np.std((preds[i] == labels[i, None]).mean(axis=0)) for i in indices])
    # Class scores (floats) are not per-template predictions: not computable, not a wrong number.
    assert np.isnan(METRICS.get("template_acc_max").fn(labels, np.random.rand(4, 3)))


def test_resampled_template_metrics_equal_gathering_each_resample() -> None:
    rng = np.random.default_rng(3)
    labels, preds = rng.integers(0, 4, 300), rng.integers(0, 4, (300, 5))
    for drawn in (300, 217):  # a row bootstrap, and cluster draws shorter than the split
        indices = rng.integers(0, 300, size=(40, drawn))
        for name in ("template_acc_mean", "template_acc_std", "template_acc_min", "template_acc_max"):
            reduce = getattr(np, name.rpartition("_")[2])
            expected = [reduce((preds[i] == labels[i, None]).mean(axis=0)) for i in indices]
            assert METRICS.get(name).resampled(labels, preds, indices).tolist() == expected


def test_zero_shot_ensemble_and_template_spread() -> None:
    info, ds = colour_corpus.build()
    task = TASKS.get("zero-shot")(templates=["a {} square", "nothing to see: {}"])
    out = fit_and_evaluate(task, ColourOracle(), ds, info, seed=0)
    m = {k: v.value for k, v in out.metrics.items()}
    assert out.eval_split == "test" and out.n == 40 and out.fit["templates"] == ["a {} square", "nothing to see: {}"]
    # The named-colour template is always right; the constant one ties every class and
    # argmax takes class 0 (red, a quarter of the balanced test split).
    assert (m["template_acc_max"], m["template_acc_min"]) == (1.0, 0.25)
    assert m["template_acc_mean"] == 0.625 and m["template_acc_std"] == 0.375
    # The ensemble adds the same vector to every class: the ranking is unchanged.
    assert m["accuracy"] == 1.0 and m["macro_f1"] == 1.0
    table = out.predictions
    assert table.column("id").to_pylist() == [f"test-{i}" for i in range(40)]
    assert table.column("template_predictions").to_pylist()[1] == [1, 0]
    # Rescoring from the stored table gives the same estimates.
    assert task.score_table(table) == out.metrics


def test_zero_shot_with_tiny_clip_learns_the_colour_words() -> None:
    info, ds = colour_corpus.build()
    out = fit_and_evaluate(TASKS.get("zero-shot")(), create("tiny-clip", **colour_corpus.TINY_CLIP), ds, info, seed=0)
    assert out.fit["epochs"] == 6  # trained on captions first (labels unused), then scored
    assert out.metrics["accuracy"].value >= 0.75  # chance: 0.25
    est = out.metrics["accuracy"]
    assert est.ci_low <= est.value <= est.ci_high


def test_linear_probe_on_oracle_features() -> None:
    info, ds = colour_corpus.build()
    out = fit_and_evaluate(TASKS.get("linear-probe")(), ColourOracle(), ds, info, seed=0)
    assert out.metrics["accuracy"].value == 1.0 and out.n == 40
    assert out.fit["probe_C"] in C_GRID and set(out.fit["probe_val_accuracy"]) == {str(c) for c in C_GRID}
    assert out.predictions.column("probs").to_pylist()[0].__len__() == 4
    both = fit_and_evaluate(TASKS.get("linear-probe")(features="image+text"), ColourOracle(), ds, info, seed=0)
    assert both.fit["features"] == "image+text" and both.metrics["accuracy"].value == 1.0


def test_linear_probe_without_val_split_holds_out_train() -> None:
    info, ds = colour_corpus.build()
    no_val = dict({"train": ds["train"], "test": ds["test"]})
    out = fit_and_evaluate(TASKS.get("linear-probe")(), ColourOracle(), no_val, info, seed=0)
    assert out.eval_split == "test" and out.metrics["accuracy"].value == 1.0


def test_probe_helpers() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-3, 0.1, (20, 2)), rng.normal(3, 0.1, (20, 2))])
    y = np.repeat([0, 2], 20)  # class 1 never appears in train
    best, scores = choose_c(x, y, x, y, seed=0)
    assert best == min(C_GRID) and all(v == 1.0 for v in scores.values())  # a tie goes to the smallest C
    from sklearn.linear_model import LogisticRegression

    probs = full_proba(LogisticRegression().fit(x, y), x[:3], 3)
    assert probs.shape == (3, 3) and (probs[:, 1] == 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


@pytest.mark.parametrize("task", ["zero-shot", "linear-probe", "retrieval"])
def test_a_classifier_is_refused_with_a_task_error(task: str) -> None:
    info, ds = colour_corpus.build()
    with pytest.raises(TaskError, match="dual encoder"):
        fit_and_evaluate(TASKS.get(task)(), create("majority"), ds, info, seed=0)


def test_runner_records_embedding_tasks_and_rescore_agrees(tmp_path: Path) -> None:
    from mmbench.report.rescore import rescore
    from mmbench.runner import driver
    from mmbench.runner.plan import plan
    from mmbench.runner.store import ResultStore
    from mmbench.runner.suite import DatasetSpec, ModelSpec, Suite

    colour_corpus.build()
    quick = {**colour_corpus.TINY_CLIP, "train": {**colour_corpus.TINY_TRAIN, "epochs": 2, "min_epochs": 1}}
    suite = Suite("embed", (ModelSpec("tiny-clip", quick), ModelSpec("majority")),
                  (DatasetSpec("colours", ("retrieval", "zero-shot", "linear-probe")),), (0,))
    store = ResultStore(tmp_path / "store")
    said: list[str] = []
    records: Any = driver.run(plan(suite), store, progress=False, log=said.append)
    # The classifier cannot serve the embedding tasks: its jobs are skipped, not crashed on.
    assert [(r.model, r.task) for r in records] == [
        ("tiny-clip", "retrieval"), ("tiny-clip", "zero-shot"), ("tiny-clip", "linear-probe")]
    assert any("majority" in line and "retrieval" in line for line in said)
    by_task = {r.task: r for r in records}
    assert by_task["retrieval"].primary_metric == "mean_recall"
    assert by_task["retrieval"].metrics["t2i_median_rank"]["higher_is_better"] is False
    assert by_task["zero-shot"].metrics["template_acc_std"]["higher_is_better"] is False
    report = rescore(tmp_path / "store", tmp_path / "rescored")
    assert len(report.written) == 3 and report.changes == []
