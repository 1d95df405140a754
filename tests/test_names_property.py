"""Property: whatever name a user gives, through whichever entry, nothing outside the home
changes. Names are generated with dots, slashes, unicode, control characters and lengths
around the limit; valid ones must work, the others must be refused with the rule."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmbench import data
from mmbench.adapters.shapes import ShapesAdapter
from mmbench.cli import main
from mmbench.names import NAME_MAX, BadName, is_name
from mmbench.runner import driver
from mmbench.runner.plan import plan
from mmbench.runner.store import ResultStore, RunRecord
from mmbench.runner.suite import SuiteError, parse_suite
from tests.snapshots import changes, snapshot

PIECES = ["..", ".", "/", "\\", "a", "Z9", "-", "_", "\x00", "\x1f", "\n", " ", "é", "☃",
          "\udcff", "victim", "home", "~"]
NAMES = st.one_of(
    st.lists(st.sampled_from(PIECES), min_size=0, max_size=8).map("".join),
    st.text(max_size=NAME_MAX + 8),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,70}", fullmatch=True),
    st.sampled_from(["..", ".", "/", "../victim", "../../victim", ".hidden", "x" * NAME_MAX,
                     "x" * (NAME_MAX + 1)]),
)
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@contextlib.contextmanager
def sandbox() -> Iterator[Path]:
    """A folder holding a home (with a dataset and a result) and a victim beside it."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "home"
        data.build(ShapesAdapter(scale=0.005), name="keep", home=home / "datasets")
        (home / "results").mkdir()
        (home / "results" / "precious.json").write_text("{}")
        (root / "victim").mkdir()
        (root / "victim" / "file.txt").write_text("mine")
        yield root


def _only_home_changed(root: Path, action: Callable[[Path], object]) -> bool:
    """Run `action(home)`; assert nothing outside `home` changed. True when it succeeded."""
    before = snapshot(root)
    try:
        action(root / "home")
        ok = True
    except (BadName, SuiteError):
        ok = False
    # The home folder's own entry counts as inside: a new folder in it (the model-facts
    # cache, `home/cache`) changes its listing.
    outside = {p for p in changes(before, snapshot(root)) if p != "home" and not p.startswith("home" + os.sep)}
    assert not outside, outside
    assert snapshot(root)["home/results/precious.json"] == before["home/results/precious.json"]
    return ok


@SETTINGS
@given(name=NAMES)
def test_build_by_any_name_stays_home(name: str) -> None:
    with sandbox() as root:
        ok = _only_home_changed(root, lambda home: data.build(
            ShapesAdapter(scale=0.005), name=name, home=home / "datasets"))
        assert ok == is_name(name)
        if ok:
            assert [d.name for d in data.list_datasets(root / "home" / "datasets")] == sorted(
                {"keep", name})


@SETTINGS
@given(name=NAMES)
def test_cli_ingest_by_any_name_stays_home(name: str) -> None:
    with sandbox() as root:
        def ingest(home: Path) -> None:
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(["ingest", "shapes", f"--name={name}", "--scale", "0.005", "--workers", "1"])
            if code != 0:
                assert code == 2 and "dataset name" in err.getvalue()
                raise BadName(err.getvalue())

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MMBENCH_HOME", str(root / "home"))
            assert _only_home_changed(root, ingest) == is_name(name)


@settings(SETTINGS, max_examples=25)
@given(dataset=NAMES, label=NAMES)
def test_suite_names_run_inside_the_home_or_are_refused(dataset: str, label: str) -> None:
    raw = {"name": "s", "models": [{"name": "majority", "label": label}],
           "datasets": [{"name": dataset, "adapter": "shapes", "options": {"scale": 0.005}}]}

    def run(home: Path) -> None:
        records = driver.run(plan(parse_suite(raw)), ResultStore(home / "results"),
                             progress=False)
        assert [(r.dataset, r.model) for r in records] == [(dataset, label)]

    with sandbox() as root, pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMBENCH_HOME", str(root / "home"))
        assert _only_home_changed(root, run) == (is_name(dataset) and is_name(label))


@SETTINGS
@given(key=st.one_of(NAMES, NAMES.map(lambda n: f"d__classification__{n}__s0__abc")))
def test_store_writes_by_any_key_stay_in_the_store(key: str) -> None:
    record = RunRecord(key=key, benchmark="b", dataset="d", dataset_fingerprint="f", task="t",
                       eval_split="test", model="m", model_config={}, config_hash="h", seed=0,
                       limit=None, n=0, metrics={})
    with sandbox() as root:
        store = ResultStore(root / "home" / "results")
        ok = _only_home_changed(root, lambda home: store.write(record))
        if ok:
            assert store.get(key).key == key
