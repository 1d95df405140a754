"""One rule for every name that becomes a path, checked at every entry, and guarded deletes.

Each case here deleted or wrote outside the home (or created hidden, unlisted datasets)
before the rule existed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmbench import data
from mmbench.adapters.shapes import ShapesAdapter
from mmbench.cli import main
from mmbench.names import NAME_MAX, BadName, check_key, check_name, is_name
from mmbench.paths import OutsideHome, inside, remove_file, remove_tree
from mmbench.runner.store import ResultStore
from tests.snapshots import snapshot

BAD_NAMES = ["..", ".", "../../x", "../victim", "/tmp/abs", "a/b", "a\\b", ".hidden", "a b",
             "a\x01b", "a\x00b", "tab\t", "é", "ends.", "", "x" * (NAME_MAX + 1), "-lead"]
GOOD_NAMES = ["shapes", "my-corpus", "coco_2017", "v1.2", "A9", "x" * NAME_MAX]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_names_pass(name: str) -> None:
    assert check_name(name, "dataset name") == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_name_the_rule(name: str) -> None:
    with pytest.raises(BadName, match="dataset name") as err:
        check_name(name, "dataset name")
    assert "letters, digits" in str(err.value) or "long" in str(err.value) or "empty" in str(err.value)
    assert not is_name(name)


def test_non_strings_are_not_names() -> None:
    for value in (None, 3, True, ["a"]):
        with pytest.raises(BadName, match="must be a string"):
            check_name(value, "model label")


def test_keys_may_be_longer_but_follow_the_rule() -> None:
    assert check_key("d__classification__m__s0__abc")
    with pytest.raises(BadName):
        check_key("../records/x")


def _world(tmp_path: Path) -> tuple[Path, Path]:
    """A home with a dataset and a result in it, and a victim folder beside it."""
    home = tmp_path / "home"
    data.build(ShapesAdapter(scale=0.005), name="keep", home=home / "datasets")
    (home / "results").mkdir()
    (home / "results" / "precious.json").write_text("{}")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "file.txt").write_text("mine")
    return home, victim


@pytest.mark.parametrize("name", ["..", ".", "../../victim", "../victim", "{abs}", ".hidden",
                                  "a\x01b", "x" * 65])
def test_cli_ingest_refuses_bad_names_and_touches_nothing(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    home, victim = _world(tmp_path)
    monkeypatch.setenv("MMBENCH_HOME", str(home))
    name = name.replace("{abs}", str(victim))
    before = snapshot(tmp_path)
    code = main(["ingest", "shapes", "--name", name, "--scale", "0.005", "--workers", "1"])
    assert code == 2
    assert "dataset name" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_api_build_refuses_bad_names_before_touching_anything(tmp_path: Path) -> None:
    home, _ = _world(tmp_path)
    before = snapshot(tmp_path)
    for name in ("..", ".", "../victim", str(tmp_path / "victim")):
        with pytest.raises(BadName):
            data.build(ShapesAdapter(scale=0.005), name=name, home=home / "datasets")
    assert snapshot(tmp_path) == before


def test_reading_a_dataset_by_a_bad_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadName):
        data.info("../../etc", home=tmp_path)
    with pytest.raises(BadName):
        data.load("..", home=tmp_path)


@pytest.mark.parametrize("suite_text", [
    "name: s\nmodels: [majority]\ndatasets: [{name: ../../victim, adapter: shapes}]\n",
    "name: s\nmodels: [{name: majority, label: ../../../escaped}]\n"
    "datasets: [{name: tiny, adapter: shapes, options: {scale: 0.005}}]\n",
    "name: ../up\nmodels: [majority]\ndatasets: [shapes]\n",
    "name: s\nmodels: [majority]\ndatasets: [.hidden]\n",
])
def test_suite_names_are_checked_before_any_work(
        suite_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    home, _ = _world(tmp_path)
    monkeypatch.setenv("MMBENCH_HOME", str(home))
    suite = tmp_path / "suite.yaml"
    suite.write_text(suite_text)
    before = snapshot(tmp_path)
    code = main(["run", "--suite", str(suite), "--store", str(home / "results"), "--quiet",
                 "--no-leaderboard", "--jobs", "1"])
    assert code == 2
    assert "breaks the rule" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_registered_names_follow_the_rule() -> None:
    import mmbench

    with pytest.raises(BadName, match="model name"):
        mmbench.register_model("../evil")(type("Evil", (), {}))
    with pytest.raises(BadName, match="adapter name"):
        mmbench.register_adapter("a/b")(type("Evil", (), {}))
    with pytest.raises(BadName, match="task name"):
        mmbench.register_task(".hidden")(type("Evil", (), {}))


def test_the_store_refuses_keys_that_are_paths(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "store")
    for key in ("../escaped", "/abs", ".hidden", "a/b"):
        with pytest.raises(BadName):
            store.record_path(key)
        with pytest.raises(BadName):
            store.predictions_path(key)


def test_job_keys_check_their_parts_again() -> None:
    from mmbench.runner.plan import EvalStep
    from mmbench.runner.suite import DatasetSpec, ModelSpec

    job = EvalStep("b", DatasetSpec("d"), "classification", ModelSpec("majority", label="../../x"), 0, None)
    with pytest.raises(BadName, match="model label"):
        job.key("f" * 64)


def test_cards_are_looked_up_by_name_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "../README"]) == 2
    assert "dataset name" in capsys.readouterr().err


# -- guarded paths: the check is in the code that deletes ---------------------------------

def test_inside_refuses_what_lands_outside(tmp_path: Path) -> None:
    base = tmp_path / "home"
    base.mkdir()
    (tmp_path / "outside").mkdir()
    (base / "link").symlink_to(tmp_path / "outside")
    assert inside(base / "a" / "b", base) == base.resolve() / "a" / "b"
    for path in (base / ".." / "outside", base, base / "link" / "x", tmp_path / "elsewhere",
                 base / "a" / ".."):
        with pytest.raises(OutsideHome):
            inside(path, base)


def test_remove_tree_unlinks_a_symlink_and_never_follows_it(tmp_path: Path) -> None:
    base = tmp_path / "home"
    base.mkdir()
    target = tmp_path / "outside"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    (base / "link").symlink_to(target)
    remove_tree(base / "link", base)
    assert not os.path.lexists(base / "link")
    assert (target / "keep.txt").read_text() == "keep"
    with pytest.raises(OutsideHome):
        remove_tree(target, base)
    with pytest.raises(OutsideHome):
        remove_tree(base, base)
    with pytest.raises(OutsideHome):
        remove_file(target / "keep.txt", base)
    assert (target / "keep.txt").exists()
