"""Damaged result stores: one line naming the file and what to do, `run` reruns the job of
a damaged record, `mmbench doctor` lists and quarantines, rescore is all or nothing
(issue 9, point 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mmbench
from mmbench.cli import main
from mmbench.runner import claims
from mmbench.runner.store import ResultStore

TINY = str(Path(__file__).parent / "data" / "tiny_suite.yaml")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    mmbench.run(TINY, models=["majority"], store=tmp_path / "store")
    return tmp_path / "store"


def _first(store: Path) -> tuple[str, Path]:
    path = sorted((store / "records").glob("*.json"))[0]
    return path.name.removesuffix(".json"), path


DAMAGE = {
    "half-written": lambda raw, other: raw[: len(raw) // 2],
    "not-an-object": lambda raw, other: "[1, 2, 3]",
    "missing-fields": lambda raw, other: '{"key": "x"}',
    "wrong-key": lambda raw, other: other,  # another job's record under this file name
    "not-utf8": lambda raw, other: "\udcff",
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_run_reruns_the_job_of_a_damaged_record(store: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    key, path = _first(store)
    other = sorted((store / "records").glob("*.json"))[1].read_text()
    path.write_bytes(DAMAGE[kind](path.read_text(), other).encode("utf-8", "surrogateescape"))
    damaged = path.read_bytes()

    assert main(["run", "--suite", TINY, "--models", "majority", "--store", str(store),
                 "--no-leaderboard", "--jobs", "1"]) == 0
    said = capsys.readouterr().out
    assert f"damaged record {path}" in said and "treating it as missing" in said
    assert "moved the damaged record" in said
    assert ResultStore(store).get(key).key == key  # a new, good record
    moved = list((store / "quarantine").rglob(path.name))
    assert [p.read_bytes() for p in moved] == [damaged]  # kept aside, not deleted
    assert moved[0].relative_to(store).parts[2:] == ("records", path.name)


def test_a_damaged_record_is_one_line_naming_it(store: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _, path = _first(store)
    path.write_text('{"key": ')
    assert main(["leaderboard", "--store", str(store), "--out", str(tmp_path / "board")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"mmbench: error: damaged run record {path}: not readable JSON")
    assert f"mmbench doctor --store {store} --quarantine" in err


def test_damaged_predictions_are_one_line_naming_them(store: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    key, _ = _first(store)
    parquet = store / "predictions" / f"{key}.parquet"
    parquet.write_bytes(parquet.read_bytes()[:100])
    for argv in (["leaderboard", "--store", str(store), "--out", str(tmp_path / "board")],
                 ["compare", str(store), str(store)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert err.startswith(f"mmbench: error: damaged predictions {parquet}: not readable Parquet")
        assert "mmbench doctor" in err
    # Rescore skips it with the reason and rescores the rest.
    assert main(["rescore", "--store", str(store), "--out", str(tmp_path / "rescored")]) == 0
    assert f"skipped  {key}: damaged predictions {parquet}" in capsys.readouterr().out


def test_doctor_lists_every_problem_then_moves_them_aside(store: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    key, record = _first(store)
    key2 = sorted(p.stem for p in (store / "predictions").glob("*.parquet"))[1]
    record.write_text("[]")
    (store / "predictions" / f"{key2}.parquet").write_text("not parquet")
    orphan = store / "predictions" / "gone__s0.parquet"
    orphan.write_bytes((store / "predictions" / f"{key}.parquet").read_bytes())
    temp = store / "records" / f".{key}.json.999999999.abcdefgh"  # a pid no process has
    temp.write_text("{")
    stale_claim = claims.claim_path(store, "dead-job")
    stale_claim.parent.mkdir(exist_ok=True)
    stale_claim.write_text('{"pid": 999999999}')
    running = store / "predictions" / "running__s0.parquet"  # a live job writes its record next
    running.write_bytes(orphan.read_bytes())

    with claims.claim(store, "running__s0"):
        before = {p.name for p in store.rglob("*")}
        assert main(["doctor", "--store", str(store)]) == 1
        lines = capsys.readouterr().out.splitlines()
        found = {(line[:20].strip(), line[20:].split(":")[0].strip()) for line in lines[:-1]}
        assert found == {("damaged record", f"records/{record.name}"),
                         ("damaged predictions", f"predictions/{key2}.parquet"),
                         ("orphan predictions", f"predictions/{orphan.name}"),
                         ("orphan predictions", f"predictions/{key}.parquet"),
                         ("temporary file", f"records/{temp.name}"),
                         ("claim", "claims/dead-job.lock")}
        assert lines[-1].startswith("6 problem(s)") and "--quarantine" in lines[-1]
        assert {p.name for p in store.rglob("*")} == before  # listing changes nothing

        assert main(["doctor", "--store", str(store), "--quarantine"]) == 0
        assert "all moved aside" in capsys.readouterr().out
    quarantined = {p.relative_to(store).parts[2:] for p in (store / "quarantine").rglob("*") if p.is_file()}
    assert quarantined == {("records", record.name), ("predictions", f"{key}.parquet"),  # with its record
                           ("predictions", f"{key2}.parquet"), ("predictions", orphan.name),
                           ("records", temp.name)}
    assert not stale_claim.exists() and running.exists()
    running.unlink()  # as if its job had finished: no longer ours to judge
    assert main(["doctor", "--store", str(store)]) == 0
    assert "no damaged or orphaned files" in capsys.readouterr().out
    # The store reads again, and a run puts back what was moved aside.
    assert main(["leaderboard", "--store", str(store), "--out", str(tmp_path / "board")]) == 0
    assert len(mmbench.run(TINY, models=["majority"], store=store)) == 2


def test_doctor_on_a_missing_store_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--store", str(tmp_path / "nope")]) == 2
    assert "no result store at" in capsys.readouterr().err


def test_a_failed_rescore_writes_no_store(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "rescored"
    real = ResultStore.write
    writes: list[str] = []

    def fail_second(self: ResultStore, record: object, predictions: object = None) -> Path:
        if writes:
            raise OSError("disk full")
        writes.append("x")
        return real(self, record, predictions)  # type: ignore[arg-type]

    monkeypatch.setattr(ResultStore, "write", fail_second)
    with pytest.raises(OSError, match="disk full"):
        mmbench.api.rescore(store, out)
    assert writes and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mmbench-home", "store"]  # no staging left
    monkeypatch.undo()
    report = mmbench.api.rescore(store, out)
    assert sorted(report.written) == sorted(p.stem for p in (out / "records").iterdir())
    assert json.loads(next((out / "records").iterdir()).read_text())["env"]["rescored_from"]
