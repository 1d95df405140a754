from pathlib import Path

import pytest

import mmbench
from mmbench.runner import driver, steps
from mmbench.runner.plan import EvalStep, plan
from mmbench.runner.store import RecordExists, ResultStore
from mmbench.runner.suite import SuiteError, load_suite

TINY = str(Path(__file__).parent / "data" / "tiny_suite.yaml")


def test_same_seed_gives_identical_metrics(tmp_path: Path) -> None:
    first = mmbench.run(TINY, models=["concat-fusion"], seeds=1, store=tmp_path / "a")
    second = mmbench.run(TINY, models=["concat-fusion"], seeds=1, store=tmp_path / "b")
    assert first[0].metrics == second[0].metrics
    assert first[0].key == second[0].key


def test_different_seeds_train_different_models(tmp_path: Path) -> None:
    records = mmbench.run(TINY, models=["concat-fusion"], store=tmp_path)
    assert [r.seed for r in records] == [0, 1]
    store = ResultStore(tmp_path)
    probs = [store.predictions(r.key).column("probs").to_pylist() for r in records]
    assert probs[0] != probs[1]


def test_finished_jobs_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = mmbench.run(TINY, store=tmp_path)
    assert len(records) == 4
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "records").iterdir()}

    def no_model_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished job was run again")

    monkeypatch.setattr(steps, "run_unit", no_model_work)
    again = mmbench.run(TINY, store=tmp_path)
    assert [r.key for r in again] == [r.key for r in records]
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "records").iterdir()} == mtimes


def test_record_carries_provenance(tmp_path: Path) -> None:
    record = mmbench.run(TINY, models=["majority"], seeds=1, store=tmp_path)[0]
    assert record.dataset == "shapes-tiny" and record.task == "classification"
    assert len(record.dataset_fingerprint) == 64
    assert record.env["packages"]["torch"] and record.env["cpu_count"]
    assert set(record.timings) >= {"fit_s", "predict_s", "total_s"}
    metric = record.metrics["accuracy"]
    assert metric["ci_low"] <= metric["value"] <= metric["ci_high"]
    assert record.n == len(ResultStore(tmp_path).predictions(record.key))


def test_store_is_append_only(tmp_path: Path) -> None:
    record = mmbench.run(TINY, models=["majority"], seeds=1, store=tmp_path)[0]
    with pytest.raises(RecordExists):
        ResultStore(tmp_path).write(record)


def test_bad_suite_is_reported_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nmodels: []\ndatasets: [shapes]\n")
    with pytest.raises(SuiteError, match="'models' must be a non-empty list"):
        load_suite(str(bad))
    with pytest.raises(SuiteError, match="unknown suite 'nope'"):
        load_suite("nope")


def test_plan_narrows_the_suite() -> None:
    jobs = plan(load_suite(TINY), models=["majority"], seeds=3, limit=10).evals
    assert [(j.model.name, j.seed, j.limit) for j in jobs] == [("majority", s, 10) for s in range(3)]


def test_a_dataset_can_narrow_models_and_seeds(tmp_path: Path) -> None:
    from mmbench.runner.suite import parse_suite

    suite = parse_suite({
        "name": "narrow", "seeds": 3, "models": ["majority", "concat-fusion"],
        "datasets": ["shapes", {"name": "openmoji", "models": ["majority"], "seeds": [7]}],
    })
    jobs = plan(suite).evals
    assert [(j.dataset.name, j.model.name, j.seed) for j in jobs if j.dataset.name == "openmoji"] == [
        ("openmoji", "majority", 7)]
    assert len([j for j in jobs if j.dataset.name == "shapes"]) == 6
    with pytest.raises(SuiteError, match="'seeds' must be"):
        parse_suite({"models": ["m"], "datasets": ["d"], "seeds": 0})


def test_jobs_a_model_cannot_serve_are_skipped_with_a_message() -> None:
    from mmbench.runner.suite import parse_suite

    suite = parse_suite({"name": "mixed", "models": ["majority", "concat-fusion"],
                         "datasets": [{"name": "shapes", "tasks": ["classification", "retrieval"]}]})
    messages: list[str] = []
    kept = driver.compatible(plan(suite).evals, messages.append)
    assert {(j.model.name, j.task) for j in kept} == {("majority", "classification"),
                                                      ("concat-fusion", "classification")}
    assert messages == ["skipped: majority cannot run retrieval (lacks the model capability it needs)",
                        "skipped: concat-fusion cannot run retrieval (lacks the model capability it needs)"]


def test_worker_processes_give_the_same_records(tmp_path: Path) -> None:
    # One thread on both sides: out of the box a lone job would get every core, and the
    # thread count is a numeric path of its own (tests/test_threads.py).
    serial = mmbench.run(TINY, store=tmp_path / "serial", threads=1)
    parallel = mmbench.run(TINY, store=tmp_path / "parallel", workers=2, threads=1)
    assert [r.key for r in parallel] == [r.key for r in serial]
    assert [r.metrics for r in parallel] == [r.metrics for r in serial]


def test_a_changed_default_is_a_new_job() -> None:
    from mmbench.runner.suite import DatasetSpec, ModelSpec

    plain = EvalStep("b", DatasetSpec("d"), "classification", ModelSpec("concat-fusion"), 0, None)
    explicit = EvalStep("b", DatasetSpec("d"), "classification",
                        ModelSpec("concat-fusion", {"hidden": 512}), 0, None)
    other = EvalStep("b", DatasetSpec("d"), "classification",
                     ModelSpec("concat-fusion", {"hidden": 64}), 0, None)
    # Spelling out a default changes nothing; changing a value does.
    assert plain.key("f") == explicit.key("f") != other.key("f")


def test_a_generated_corpus_is_built_again_when_its_adapter_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    from mmbench import data
    from mmbench.adapters.shapes import ShapesAdapter
    from mmbench.runner.suite import DatasetSpec

    spec = DatasetSpec("shapes-v", adapter="shapes", options={"scale": 0.01})
    first = driver.ensure_dataset(spec)
    built = (data.dataset_path("shapes-v") / "info.json").stat().st_mtime_ns
    driver.ensure_dataset(spec)
    assert (data.dataset_path("shapes-v") / "info.json").stat().st_mtime_ns == built  # not built again
    monkeypatch.setattr(ShapesAdapter, "version", "99")
    again = driver.ensure_dataset(spec)
    assert again.adapter_version == "99" and data.info("shapes-v").adapter_version == "99"
    other = driver.ensure_dataset(DatasetSpec("shapes-v", adapter="shapes", options={"scale": 0.02}))
    assert other.splits["test"] == 20 != first.splits["test"]
