"""Options and suite values are checked at the door: each bad value is refused through the
CLI with a message naming it and exit code 2, before anything is built or trained."""

from __future__ import annotations

from pathlib import Path

import pytest

import mmbench
from mmbench.cli import main
from mmbench.runner.plan import plan
from mmbench.runner.suite import SuiteError, parse_suite

TINY_DATA = "{name: tiny, adapter: shapes, options: {scale: 0.005}}"


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(args)
    except SystemExit as stop:  # argparse refuses an option value this way
        code = int(stop.code or 0)
    return code, capsys.readouterr().err


def _suite(tmp_path: Path, text: str) -> str:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(("option", "value"), [
    ("--threads", "0"), ("--jobs", "0"), ("--seeds", "0"), ("--seeds", "-2"), ("--limit", "0"),
    ("--limit", "-5"), ("--threads", "two"),
])
def test_counts_must_be_positive_integers(option: str, value: str, isolated_home: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _cli(["run", option, value, "--quiet"], capsys)
    assert code == 2
    assert f"argument {option}: expected a positive integer" in err
    assert not isolated_home.exists()  # nothing was built


def test_ingest_counts_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    for option in ("--workers", "--max-pixels"):
        code, err = _cli(["ingest", "shapes", option, "0"], capsys)
        assert code == 2
        assert f"argument {option}: expected a positive integer" in err


def test_a_store_that_is_a_file_fails_before_any_work(tmp_path: Path, isolated_home: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "not-a-folder"
    store.write_text("")
    suite = _suite(tmp_path, f"name: s\nmodels: [majority]\ndatasets: [{TINY_DATA}]\n")
    code, err = _cli(["run", "--suite", suite, "--store", str(store), "--quiet", "--no-leaderboard"],
                     capsys)
    assert code == 2
    assert f"result store {store} is not a folder" in err
    assert not (isolated_home / "datasets").exists()  # refused before the dataset was built


@pytest.mark.parametrize(("body", "message"), [
    ("seeds: [true]\nmodels: [majority]\n", "'seeds' must be a positive count or a non-empty list of"),
    ("seeds: [-1]\nmodels: [majority]\n", "non-negative integers, got [-1]"),
    ("seeds: 0\nmodels: [majority]\n", "'seeds' must be"),
    ("models: [{name: concat-fusion, config: {no_such_param: 1}}]\n",
     "model 'concat-fusion': unknown config key 'no_such_param'"),
    ("models: [{name: concat-fusion, config: {hiden: 4}}]\n", "did you mean 'hidden'?"),
    ("models: [{name: concat-fusion, config: {train: {epoch: 1}}}]\n",
     "model 'concat-fusion': config {'train': {'epoch': 1}} is refused"),
    ("models: [majority, text-only]\ndatasets_extra: 1\n", "unknown key 'datasets_extra'"),
    ("seed: 2\nmodels: [majority]\n", "unknown key 'seed'; did you mean 'seeds'?"),
    ("models: [{name: majority, lable: x}]\n", "did you mean 'label'?"),
    ("models: [{name: majority, config: [1]}]\n", "config must be a mapping"),
    ("models: [{name: majority}, {name: concat-fusion, label: majority}]\n",
     "model 'majority' is listed twice with different configurations"),
])
def test_bad_suite_values_are_refused(body: str, message: str, tmp_path: Path, isolated_home: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path, f"name: s\ndatasets: [{TINY_DATA}]\n{body}")
    code, err = _cli(["run", "--suite", suite, "--store", str(tmp_path / "store"), "--quiet",
                      "--no-leaderboard", "--jobs", "1"], capsys)
    assert code == 2, err
    assert message in err
    assert not (tmp_path / "store").exists()


def test_an_unknown_per_dataset_model_is_an_error(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path, "name: s\nmodels: [majority, text-only]\n"
                             "datasets: [{name: tiny, adapter: shapes, models: [text-olny]}]\n")
    code, err = _cli(["run", "--suite", suite, "--store", str(tmp_path / "store"), "--quiet"], capsys)
    assert code == 2
    assert "lists model 'text-olny', which is not among the suite's models; did you mean 'text-only'?" in err


def test_a_string_is_a_one_item_list() -> None:
    suite = parse_suite({"name": "s", "models": "majority",
                         "datasets": [{"name": "tiny", "adapter": "shapes", "tasks": "classification",
                                       "models": "majority"}]})
    jobs = plan(suite).evals
    assert [(j.dataset.name, j.task, j.model.name) for j in jobs] == [("tiny", "classification", "majority")]


def test_duplicates_in_one_suite_are_planned_once() -> None:
    suite = parse_suite({"name": "s", "seeds": [0, 0, 1], "models": ["majority", "majority"],
                         "datasets": [{"name": "tiny", "adapter": "shapes",
                                       "tasks": ["classification", "classification"]},
                                      {"name": "tiny", "adapter": "shapes", "models": ["majority"]}]})
    assert suite.seeds == (0, 1)
    jobs = plan(suite).evals
    assert sorted((j.model.name, j.seed) for j in jobs) == [("majority", 0), ("majority", 1)]
    assert len(plan(suite, models=["majority", "majority"]).evals) == 2


def test_python_api_checks_the_same_values(tmp_path: Path) -> None:
    suite = _suite(tmp_path, f"name: s\nmodels: [majority]\ndatasets: [{TINY_DATA}]\n")
    for kwargs in ({"seeds": 0}, {"seeds": True}, {"limit": -1}, {"workers": 0}, {"threads": 0}):
        with pytest.raises(ValueError, match="must be a positive integer"):
            mmbench.run(suite, store=tmp_path / "store", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(SuiteError, match="dataset name '../x'"):
        parse_suite({"models": ["majority"], "datasets": ["../x"]})
    assert not (tmp_path / "store").exists()


def test_strings_and_duplicates_run_once_through_the_cli(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    suite = _suite(tmp_path, "name: s\nseeds: [0, 0]\nmodels: [majority, majority]\n"
                             "datasets: [{name: tiny, adapter: shapes, options: {scale: 0.005}, "
                             "tasks: classification, models: majority}]\n")
    code = main(["run", "--suite", suite, "--store", str(tmp_path / "store"), "--quiet",
                 "--no-leaderboard", "--jobs", "1"])
    assert code == 0
    assert "1 run record(s)" in capsys.readouterr().out
    records = mmbench.run(suite, store=tmp_path / "store")
    assert [(r.task, r.model, r.seed) for r in records] == [("classification", "majority", 0)]


def test_a_device_that_is_not_there_is_refused_before_any_work(tmp_path: Path, isolated_home: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    suite = _suite(tmp_path, f"name: s\nmodels: [majority]\ndatasets: [{TINY_DATA}]\n")
    if not torch.cuda.is_available():
        code, err = _cli(["run", "--suite", suite, "--device", "cuda", "--quiet", "--no-leaderboard"], capsys)
        assert code == 2 and "mmbench: error:" in err and "cuda" in err.lower()
    code, err = _cli(["run", "--suite", suite, "--device", "tpu", "--quiet", "--no-leaderboard"], capsys)
    assert code == 2 and "unknown device 'tpu'" in err
    assert not (isolated_home / "datasets").exists()
    record = mmbench.run(suite, store=tmp_path / "store", device="auto")[0]
    assert record.env["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
