"""Train once, evaluate many (issue 10): fit steps counted, artifacts keyed by exactly what
changes the weights, transfer between corpora by class name, embeddings computed once,
serial and pool executors alike, and a run killed between a fit and its evaluations."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mmbench
from mmbench.runner import driver
from mmbench.runner.artifacts import ArtifactError, ArtifactStore
from mmbench.runner.plan import EvalStep, FitStep, plan
from mmbench.runner.store import ResultStore
from mmbench.runner.suite import DatasetSpec, ModelSpec, SuiteError, parse_suite
from mmbench.tasks.base import TaskError
from tests import fit_models

A = {"name": "colours-a", "adapter": "fit-test-colours"}
B = {"name": "colours-b", "adapter": "fit-test-colours", "options": {"seed": 1}, "train_on": "colours-a"}


def _suite(tmp_path: Path, datasets: list[dict[str, Any]], model: str = "fit-test-centroids",
           seeds: int = 1, name: str = "fits") -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps({"name": name, "seeds": seeds, "models": [model], "datasets": datasets}))
    return str(path)


@pytest.fixture(autouse=True)
def fit_test_entries() -> Iterator[None]:
    fit_models.StoredCentroids.fits = 0
    fit_models.UnstoredCentroids.fits = 0
    with fit_models.registered():
        yield


def test_one_fit_serves_many_evaluations_and_a_rerun_fits_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = mmbench.run(_suite(tmp_path, [A, B]), store=store)
    assert fit_models.StoredCentroids.fits == 1  # one fit for the in-distribution and the transfer row
    assert [(r.dataset, r.trained_on, r.transfer) for r in first] == [
        ("colours-a", "colours-a", False), ("colours-b", "colours-a", True)]
    assert first[0].fit_key == first[1].fit_key and ArtifactStore(store).has(first[0].fit_key)
    assert first[1].metrics["accuracy"]["value"] > 0.9  # the same classes, another sample
    # A later run that adds an evaluation corpus loads the artifact: no training.
    c = {**B, "name": "colours-c", "options": {"seed": 2}}
    again = mmbench.run(_suite(tmp_path, [A, B, c]), store=store)
    assert fit_models.StoredCentroids.fits == 1
    assert [r.key for r in again[:2]] == [r.key for r in first]
    assert again[2].model_info["fit_loaded"] is True and again[2].fit_key == first[0].fit_key


def test_a_model_that_cannot_be_stored_is_fitted_once_per_run(tmp_path: Path) -> None:
    store = tmp_path / "store"
    mmbench.run(_suite(tmp_path, [A, B], model="fit-test-unstored"), store=store, workers=2)
    # One unit (the fit and both evaluations): it runs in this process, not in a lone worker
    assert fit_models.UnstoredCentroids.fits == 1
    records = mmbench.run(_suite(tmp_path, [A, B, {**B, "name": "colours-c", "options": {"seed": 2}}],
                                 model="fit-test-unstored"), store=store)
    assert fit_models.UnstoredCentroids.fits == 2  # the new evaluation needed the model once more
    assert not (store / "artifacts").exists() or not any((store / "artifacts").iterdir())
    assert records[2].fit_key and records[2].model_info["fit_loaded"] is False


def test_progress_shows_fit_and_evaluate_steps(tmp_path: Path) -> None:
    said: list[str] = []
    mmbench.run(_suite(tmp_path, [A, B]), store=tmp_path / "store", log=said.append)
    fits = [line for line in said if " fit " in f" {line.strip()} "]
    assert len(fits) == 1 and "fitted in" in fits[0] and "stored" in fits[0], said
    assert any("colours-b (trained on colours-a)/classification" in line for line in said), said


def _fit(**change: Any) -> FitStep:
    base = {"model": ModelSpec("concat-fusion"), "train_dataset": DatasetSpec("shapes"),
            "objective": "classification", "seed": 0, "limit": None, "task": "classification"}
    return FitStep(**{**base, **change})


def test_the_artifact_key_changes_with_what_changes_the_weights_and_only_that() -> None:
    key = _fit().key("f" * 64)
    changed = [_fit(model=ModelSpec("concat-fusion", {"hidden": 64})).key("f" * 64),
               _fit(seed=1).key("f" * 64), _fit(objective="visual-entailment").key("f" * 64),
               _fit(limit=10).key("f" * 64), _fit().key("e" * 64),
               _fit(model=ModelSpec("concat-fusion", {"train": {"epochs": 3}})).key("f" * 64)]
    assert len({key, *changed}) == len(changed) + 1
    # Not in the key: a label, where the step came from, the task sharing the objective,
    # a config spelling out a default.
    same = [_fit(model=ModelSpec("concat-fusion", label="cf", where="x.yaml: models[3]")).key("f" * 64),
            _fit(task="visual-entailment").key("f" * 64),
            _fit(model=ModelSpec("concat-fusion", {"hidden": 512})).key("f" * 64),
            _fit(train_dataset=DatasetSpec("shapes", adapter="shapes", where="y")).key("f" * 64)]
    assert set(same) == {key}


def test_the_artifact_key_changes_with_the_model_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from mmbench.models.concat_fusion import ConcatFusion

    key = _fit().key("f" * 64)
    monkeypatch.setattr(ConcatFusion, "fit_version", "2", raising=False)
    assert _fit().key("f" * 64) != key


def test_embedding_tasks_share_one_contrastive_fit_and_classifiers_their_own() -> None:
    suite = parse_suite({"name": "s", "models": ["tiny-clip", "concat-fusion"],
                         "datasets": [{"name": "openmoji", "tasks": ["retrieval", "zero-shot", "linear-probe"]},
                                      {"name": "shapes"}]})
    steps = plan(suite)
    clip = [s for s in steps.evals if s.model.name == "tiny-clip" and s.dataset.name == "openmoji"]
    assert len(clip) == 3 and len({s.fit.key("f" * 64) for s in clip if s.fit}) == 1
    assert len(steps.fits) == 2  # tiny-clip once, concat-fusion once


def test_classes_are_matched_by_name_and_unseen_ones_are_an_error_or_wrong(tmp_path: Path) -> None:
    store = tmp_path / "store"
    swapped = {**B, "name": "swapped", "options": {"classes": "yellow,blue,green,red", "seed": 1}}
    record = mmbench.run(_suite(tmp_path, [A, swapped]), store=store)[1]
    assert record.metrics["accuracy"]["value"] > 0.9  # by index it would be near 0
    assert record.model_info["fit"]["classes_matched_by_name"] is True
    unseen = {**B, "name": "unseen", "options": {"classes": "red,purple", "seed": 1}}
    with pytest.raises(TaskError, match="classes the model was not fitted on: 'purple'"):
        mmbench.run(_suite(tmp_path, [A, unseen]), store=store)
    scored = mmbench.run(_suite(tmp_path, [A, {**unseen, "unseen_classes": "wrong"}]), store=store)[1]
    assert scored.model_info["fit"]["unseen_classes"] == ["purple"]
    assert scored.model_info["fit"]["unseen_rows"] == 6
    assert scored.metrics["accuracy"]["value"] == pytest.approx(0.5)  # the red half right


def test_a_transfer_record_has_its_own_key_beside_the_in_distribution_one(tmp_path: Path) -> None:
    step = plan(parse_suite({"name": "s", "models": ["majority"], "datasets": ["shapes"]})).evals[0]
    shifted = EvalStep(step.benchmark, DatasetSpec("shapes-b"), step.task, step.model, 0, None,
                       FitStep(step.model, DatasetSpec("shapes"), "classification", 0, None, "classification"))
    assert shifted.transfer and not step.transfer
    assert shifted.key("b" * 64, "a" * 64).startswith("shapes-b__from-shapes__classification__majority__s0__")
    assert shifted.key("b" * 64, "a" * 64) != shifted.key("b" * 64, "c" * 64)


@pytest.mark.parametrize(("entry", "message"), [
    ({"name": "shapes", "task": ["classification"]}, "datasets[0] (dataset 'shapes'): unknown key 'task'; "
                                                    "did you mean 'tasks'?"),
    ({"name": "shapes", "tasks": ["clasification"]}, "datasets[0] (dataset 'shapes'): tasks: unknown task "
                                                     "'clasification'; did you mean 'classification'?"),
    ({"name": "shapes", "adapter": "shpes"}, "datasets[0] (dataset 'shapes'): adapter: unknown adapter "
                                             "'shpes'; did you mean 'shapes'?"),
    ({"name": "nowhere"}, "datasets[0] (dataset 'nowhere'): name: dataset 'nowhere' is not ingested"),
    ({"name": "shapes", "train_on": "nowhere"}, "datasets[0] (dataset 'shapes'): train_on: dataset "
                                                "'nowhere' is not ingested"),
    ({"name": "shapes", "seeds": [0, "1"]}, "'seeds' must be a positive count or a non-empty list"),
    ({"name": "shapes", "unseen_classes": "skip"}, "'unseen_classes' must be one of error, wrong"),
])
def test_suite_file_mistakes_name_the_file_the_entry_and_the_key(entry: dict[str, Any], message: str,
                                                                  tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps({"name": "bad", "models": ["majority"], "datasets": [entry]}))
    with pytest.raises(SuiteError) as err:
        mmbench.run(str(path), store=tmp_path / "store")
    assert str(err.value).startswith(str(path)), err.value
    assert message in str(err.value)
    assert not (tmp_path / "store").exists()


def test_an_unknown_model_names_its_entry(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps({"name": "bad", "models": ["majority", "concat-fuson"], "datasets": ["shapes"]}))
    with pytest.raises(SuiteError, match=r"models\[1\]: name: unknown model 'concat-fuson'; did you mean "
                                         r"'concat-fusion'\?"):
        mmbench.run(str(path), store=tmp_path / "store")


def test_serial_and_pool_executors_give_identical_records(tmp_path: Path) -> None:
    from tests import colour_corpus

    colours = {"name": "colours", "adapter": "fit-test-colours"}
    suite = tmp_path / "mixed.yaml"
    suite.write_text(json.dumps({
        "name": "mixed", "seeds": 2,
        "models": ["majority", {"name": "tiny-clip", "config": colour_corpus.TINY_CLIP}],
        "datasets": [colours, {**B, "name": "colours-b", "train_on": "colours"},
                     {**colours, "tasks": ["linear-probe", "zero-shot"], "models": ["tiny-clip"]}]}))
    serial = mmbench.run(str(suite), store=tmp_path / "serial", threads=1)  # the count is a numeric path
    pooled = mmbench.run(str(suite), store=tmp_path / "pool", workers=2, threads=1)
    assert [r.key for r in serial] == [r.key for r in pooled]
    assert [(r.metrics, r.fit_key) for r in serial] == [(r.metrics, r.fit_key) for r in pooled]
    for a, b in zip(serial, pooled, strict=True):
        table_a, table_b = (ResultStore(tmp_path / side).predictions(a.key) for side in ("serial", "pool"))
        assert a.key == b.key and table_a.equals(table_b)


def test_embeddings_are_computed_once_per_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmbench.tasks import embeddings

    calls: list[int] = []
    real = embeddings._embed_images

    def counted(model: Any, split: Any, batch_size: int | None = None) -> Any:
        calls.append(len(split))
        return real(model, split, batch_size)

    monkeypatch.setattr(embeddings, "_embed_images", counted)
    from tests import colour_corpus

    suite = _suite(tmp_path, [{"name": "colours", "adapter": "fit-test-colours",
                               "tasks": ["retrieval", "zero-shot", "linear-probe"]}],
                   model="tiny-clip")
    Path(suite).write_text(Path(suite).read_text().replace('"tiny-clip"', json.dumps(
        {"name": "tiny-clip", "config": colour_corpus.TINY_CLIP})))
    records = mmbench.run(suite, store=tmp_path / "store")
    assert [r.task for r in records] == ["retrieval", "zero-shot", "linear-probe"]
    # The three tasks share the test split's image embeddings; the probe adds train and val.
    assert sorted(calls) == [24, 24, 24]


def test_an_artifact_with_an_untrusted_file_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "store"
    record = mmbench.run(_suite(tmp_path, [A]), store=store)[0]
    folder = ArtifactStore(store).path(record.fit_key)
    (folder / "model" / "extra.pkl").write_bytes(b"\x80\x04.")
    with pytest.raises(ArtifactError, match=r"extra\.pkl, which is neither safetensors nor JSON"):
        mmbench.run(_suite(tmp_path, [A, B]), store=store)


def test_a_run_killed_between_a_fit_and_its_evaluations_resumes_without_refitting(tmp_path: Path) -> None:
    store = tmp_path / "store"
    suite = _suite(tmp_path, [A, B])
    child = os.fork()
    if child == 0:  # dies right after the artifact is stored, before any evaluation
        try:
            real = ArtifactStore.save

            def save_then_die(self: ArtifactStore, *args: Any, **kwargs: Any) -> Path:
                path = real(self, *args, **kwargs)
                os.kill(os.getpid(), signal.SIGKILL)
                return path

            ArtifactStore.save = save_then_die  # type: ignore[method-assign]
            mmbench.run(suite, store=store)
        finally:
            os._exit(3)
    _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status)
    assert not (store / "records").exists() or not list((store / "records").glob("*.json"))
    records = driver.run(plan(mmbench.runner.suite.load_suite(suite)), ResultStore(store), progress=False)
    assert fit_models.StoredCentroids.fits == 0  # the stored artifact was loaded
    assert len(records) == 2 and all(r.model_info["fit_loaded"] for r in records)
    assert np.isfinite(records[0].metrics["accuracy"]["value"])


def test_doctor_finds_an_untrusted_artifact_and_a_run_refits_once_it_is_moved_aside(tmp_path: Path) -> None:
    from mmbench.runner.doctor import doctor

    store = tmp_path / "store"
    record = mmbench.run(_suite(tmp_path, [A]), store=store)[0]
    folder = ArtifactStore(store).path(record.fit_key)
    (folder / "model" / "extra.pkl").write_bytes(b"\x80\x04.")
    (store / "artifacts" / ".some-key.saving-999999999").mkdir()  # a killed artifact write
    found = doctor(store)
    assert {(p.kind, p.path.name) for p in found.problems} == {
        ("damaged artifact", record.fit_key), ("staging folder", ".some-key.saving-999999999")}
    moved = doctor(store, move=True)
    assert not moved.unresolved and not folder.exists()
    assert sorted(p.name for p in (store / "quarantine").glob("*/artifacts/*")) == sorted(
        [record.fit_key, ".some-key.saving-999999999"])
    assert doctor(store).problems == []
    mmbench.run(_suite(tmp_path, [A, B]), store=store)
    assert fit_models.StoredCentroids.fits == 2  # fitted again: the untrusted artifact is never read
