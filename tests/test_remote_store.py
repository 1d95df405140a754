"""Datasets and results on object storage, against a local S3-compatible server (moto in
server mode on 127.0.0.1): conditional writes, leases, the remote result store and
artifacts, datasets published and pulled, and `mmbench run` with `MMBENCH_HOME=s3://...`
read back from a second machine's empty mirror."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import mmbench
from mmbench import data
from mmbench.dataset_sync import RemoteDatasetError, publish, pull
from mmbench.objects import ObjectStore, ObjectStoreError, is_url
from mmbench.paths import OutsideHome
from mmbench.runner import leases
from mmbench.runner.remote_store import RemoteResultStore, open_artifacts, open_store
from mmbench.runner.store import ClaimLost, RecordExists, ResultStore, RunRecord
from tests.s3_server import S3, another_machine

BUDGET = {"shapes": {"epochs": 1, "min_epochs": 1}}


def _record(key: str, value: float = 0.5) -> RunRecord:
    return RunRecord(key=key, benchmark="b", dataset="d", dataset_fingerprint="f", task="t", eval_split="test",
                     model="m", model_config={}, config_hash="h", seed=0, limit=None, n=2,
                     metrics={"accuracy": {"value": value}}, primary_metric="accuracy")


def _suite(tmp: Path, models: list[str], seeds: int = 1, diagnostics: list[str] | None = None) -> str:
    path = tmp / f"suite-{len(list(tmp.glob('suite-*')))}.yaml"
    path.write_text(json.dumps({"name": "remote", "seeds": seeds, "models": models, "datasets": ["shapes"],
                                "train": BUDGET, "diagnostics": diagnostics or []}))
    return str(path)


# --- object storage -------------------------------------------------------------------

def test_storage_urls_are_told_apart_from_folders() -> None:
    assert is_url("s3://bucket/x") and not is_url("/tmp/x") and not is_url("file:///tmp/x")
    assert not is_url(Path("s3:/bucket"))  # a Path is always a folder
    with pytest.raises(ObjectStoreError, match="gs://b/x: not a storage URL"):
        ObjectStore("gs://b/x")
    with pytest.raises(ObjectStoreError, match="names no bucket"):
        ObjectStore("s3://")


def test_object_keys_are_plain_names_never_paths(s3: S3) -> None:
    objects = ObjectStore(s3.url("home"))
    for bad in ("../escape", "a/../../b", "a//b", "/abs", "a/./b"):
        with pytest.raises(ObjectStoreError, match="not a plain object name"):
            objects.put(bad, b"x")
    with pytest.raises(ObjectStoreError, match="not a plain object name"):
        ObjectStore(s3.url("..", "other"))
    assert objects.listing() == []


def test_create_writes_once_and_conditional_writes_see_changes(s3: S3) -> None:
    objects = ObjectStore(s3.url("home"))
    tag = objects.create("a/b.json", b"first")
    assert tag is not None
    assert objects.create("a/b.json", b"second") is None
    assert objects.read("a/b.json") == b"first"
    newer = objects.replace("a/b.json", b"third", tag)
    assert newer is not None and newer != tag
    assert objects.replace("a/b.json", b"fourth", tag) is None  # the tag read first is stale
    assert objects.read_with_tag("a/b.json") == (b"third", newer)
    assert not objects.delete("a/b.json", tag)
    assert objects.delete("a/b.json", newer) and objects.read("a/b.json") is None
    assert objects.replace("a/b.json", b"x", newer) is None  # gone: nothing to replace


def test_two_writers_creating_one_object_one_wins(s3: S3) -> None:
    objects = ObjectStore(s3.url("home"))
    for attempt in range(5):
        won: list[bytes] = []
        barrier = threading.Barrier(4)

        def write(body: bytes, key: str = f"race-{attempt}", won: list[bytes] = won,
                  barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            if objects.create(key, body) is not None:
                won.append(body)

        threads = [threading.Thread(target=write, args=(bytes([i]),)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1
        assert objects.read(f"race-{attempt}") == won[0]


# --- leases -----------------------------------------------------------------------------

def test_a_lease_is_held_by_one_holder_and_free_once_released(s3: S3) -> None:
    objects = ObjectStore(s3.url("store"))
    with leases.hold(objects, "job", wait=False) as first:
        assert first is not None and first.valid()
        assert leases.holder_of(objects, "job") == first.holder
        with leases.hold(objects, "job", wait=False) as second:
            assert second is None
    assert leases.holder_of(objects, "job") is None
    assert objects.read("claims/job.json") is None
    with leases.hold(objects, "job", wait=False) as again:
        assert again is not None


def test_a_held_lease_is_renewed_past_its_term(s3: S3) -> None:
    objects = ObjectStore(s3.url("store"))
    with leases.hold(objects, "job", term=0.6) as lease:
        assert lease is not None
        time.sleep(1.5)  # more than twice its term
        assert lease.valid()
        assert leases.take(objects, "job", term=0.6) is None


def test_an_expired_lease_is_taken_over_by_exactly_one_taker(s3: S3) -> None:
    objects = ObjectStore(s3.url("store"))
    for attempt in range(4):
        key = f"job-{attempt}"
        # A holder that died: its lease is still there, its term over.
        objects.put(f"claims/{key}.json", json.dumps({"holder": "dead", "expires": time.time() - 1}).encode())
        taken: list[leases.Lease] = []
        barrier = threading.Barrier(3)

        def take(key: str = key, taken: list[leases.Lease] = taken,
                 barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            lease = leases.take(objects, key, term=30)
            if lease is not None:
                taken.append(lease)

        threads = [threading.Thread(target=take) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(taken) == 1
        assert leases.holder_of(objects, key) == taken[0].holder
        taken[0].release()


def test_a_holder_whose_lease_was_taken_over_knows_it_lost_it(s3: S3) -> None:
    objects = ObjectStore(s3.url("store"))
    lease = leases.take(objects, "job", term=30)
    assert lease is not None
    objects.put("claims/job.json", b'{"holder": "someone else", "expires": 9e99}')  # taken over
    assert not lease.renew()
    assert not lease.valid()
    lease.release()  # lost: the other holder's lease stays
    assert leases.holder_of(objects, "job") == "someone else"


# --- the remote result store ---------------------------------------------------------------

def test_a_remote_store_is_append_only_and_read_back_from_another_machine(
        s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(s3.url("results"))
    assert isinstance(store, RemoteResultStore) and store.location == s3.url("results")
    table = pa.table({"prediction": [1, 0]})
    store.write(_record("k1"), table)
    with pytest.raises(RecordExists):
        store.write(_record("k1", 0.9))
    another_machine(monkeypatch, tmp_path / "machine-2")
    other = open_store(s3.url("results"))
    assert other.root != store.root and not other.root.exists()
    assert not other.has("nope") and other.has("k1") and other.has_predictions("k1")
    assert other.get("k1") == store.get("k1")
    assert other.get("k1").metrics["accuracy"]["value"] == 0.5
    assert other.predictions("k1").to_pylist() == table.to_pylist()
    assert [r.key for r in other.records()] == ["k1"]
    with pytest.raises(RecordExists):  # the other machine cannot overwrite it either
        other.write(_record("k1", 0.9))
    assert other.find("absent") is None


def test_two_machines_writing_one_record_leave_one(s3: S3, tmp_path: Path) -> None:
    import os

    stores = []
    for name in ("m1", "m2", "m3"):
        os.environ["MMBENCH_CACHE"] = str(tmp_path / name)  # restored by the fixture's monkeypatch
        stores.append(open_store(s3.url("results")))
    wrote: list[int] = []
    barrier = threading.Barrier(len(stores))

    def write(i: int) -> None:
        barrier.wait()
        try:
            stores[i].write(_record("same", float(i)))
            wrote.append(i)
        except RecordExists:
            pass

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wrote) == 1
    fresh = RemoteResultStore(s3.url("results"))
    assert fresh.get("same").metrics["accuracy"]["value"] == float(wrote[0])


def test_claims_on_a_remote_store_hold_across_machines(s3: S3, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    first = open_store(s3.url("results"))
    another_machine(monkeypatch, tmp_path / "machine-2")
    second = open_store(s3.url("results"))
    with first.claim("job", wait=False) as mine:
        assert mine
        with second.claim("job", wait=False) as theirs:
            assert not theirs  # its local lock is free; the lease is not
    with second.claim("job", wait=False) as theirs:
        assert theirs


def test_no_record_is_written_under_a_lost_claim(s3: S3) -> None:
    store = open_store(s3.url("results"))
    assert isinstance(store, RemoteResultStore)
    with store.claim("k", wait=False) as held:
        assert held
        store.objects.put("claims/k.json", b'{"holder": "another driver", "expires": 9e99}')
        store.leases["k"].renew()  # its renewal is refused: the lease is lost
        with pytest.raises(ClaimLost, match="ran out under this process"):
            store.write(_record("k"))
    assert not store.has("k")


def test_artifacts_travel_through_the_remote_store(s3: S3, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from mmbench.models import create
    from mmbench.tasks.base import Fitted

    model = create("majority")
    model.prior = np.array([0.25, 0.75])
    artifacts = open_artifacts(s3.url("results"))
    fitted = Fitted(model, "classify", ["a", "b"], {}, {"epochs": 1}, fit_s=1.5)
    artifacts.save("fit-1", fitted, {"model": "majority"}, {})
    another_machine(monkeypatch, tmp_path / "machine-2")
    remote = open_artifacts(s3.url("results"))
    assert not remote.path("fit-1").exists() and remote.has("fit-1")
    assert remote.stored_keys() == ["fit-1"]
    loaded = remote.load("fit-1", create("majority"))
    assert loaded.loaded and loaded.classes == ["a", "b"] and loaded.fit_s == 1.5
    assert loaded.model.prior.tolist() == [0.25, 0.75]
    assert remote.problem("fit-1") is None


def test_an_untrusted_remote_artifact_is_refused(s3: S3) -> None:
    from mmbench.models import create
    from mmbench.runner.artifacts import ArtifactError

    objects = ObjectStore(s3.url("results", "artifacts"))
    objects.put("evil/files-1/model/weights.pkl", b"not a tensor file")
    objects.put("evil/manifest.json", json.dumps({"key": "evil", "files_at": "files-1",
                                                  "files": ["model/weights.pkl"]}).encode())
    with pytest.raises(ArtifactError, match="neither safetensors nor JSON"):
        open_artifacts(s3.url("results")).load("evil", create("majority"))
    objects.put("escape/manifest.json", json.dumps({"key": "escape", "files_at": "f",
                                                    "files": ["../../outside.json"]}).encode())
    with pytest.raises((OutsideHome, ObjectStoreError)):
        open_artifacts(s3.url("results")).load("escape", create("majority"))


# --- datasets in a remote home -----------------------------------------------------------

def _shapes(scale: float = 0.02) -> Any:
    from mmbench.adapters import ADAPTERS

    return ADAPTERS.get("shapes")(scale=scale)


def test_a_dataset_built_into_a_remote_home_is_read_on_another_machine(
        s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_HOME", s3.url("home"))
    report = data.build(_shapes(), name="shapes")
    objects = ObjectStore(s3.url("home", "datasets"))
    pointer = json.loads(objects.read("shapes/current.json") or b"{}")
    assert pointer["fingerprint"] == report.fingerprint and pointer["files"][-1] == "info.json"
    rows = data.load("shapes")["train"]["id"]
    another_machine(monkeypatch, tmp_path / "machine-2")
    assert not data.dataset_path("shapes").exists()
    assert data.exists("shapes")  # pulled
    info = data.info("shapes")
    assert info.fingerprint == report.fingerprint and info.path == str(data.dataset_path("shapes"))
    assert data.load("shapes")["train"]["id"] == rows
    assert [d.name for d in data.list_datasets()] == ["shapes"]


def test_a_run_pulls_the_build_it_planned_or_says_it_changed(
        s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_HOME", s3.url("home"))
    old = data.build(_shapes(0.02), name="shapes").fingerprint
    another_machine(monkeypatch, tmp_path / "machine-2")
    assert pull("shapes", old)
    another_machine(monkeypatch, tmp_path / "machine-3")
    new = data.build(_shapes(0.03), name="shapes").fingerprint
    assert new != old
    another_machine(monkeypatch, tmp_path / "machine-2")
    with pytest.raises(RemoteDatasetError, match="published again meanwhile"):
        pull("shapes", new[:0] + old[::-1])  # a build the home never had
    assert pull("shapes", old)  # the mirror holds it: nothing asked of the server
    assert pull("shapes") and data.info("shapes").fingerprint == new  # refreshed to the current build
    assert not pull("no-such-dataset")


def test_a_pointer_naming_files_outside_the_dataset_is_refused(
        s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_HOME", s3.url("home"))
    objects = ObjectStore(s3.url("home", "datasets"))
    objects.put("evil/current.json", json.dumps({"fingerprint": "f" * 64, "files": ["../../x.json"]}).encode())
    with pytest.raises((OutsideHome, ObjectStoreError)):
        pull("evil")
    assert not (tmp_path / "x.json").exists()
    objects.put("broken/current.json", b"{not json")
    with pytest.raises(RemoteDatasetError, match="broken/current.json is not a dataset pointer"):
        pull("broken")


def test_publish_is_nothing_for_a_local_home() -> None:
    assert publish("shapes") is None and not pull("shapes")


# --- mmbench run on a remote home -------------------------------------------------------------

def test_mmbench_run_on_a_remote_home_resumes_from_another_machine(
        s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBENCH_HOME", s3.url("home"))
    suite = _suite(tmp_path, ["majority", "concat-fusion"])
    first = mmbench.run(suite, limit=40)
    local = mmbench.run(suite, store=tmp_path / "local", limit=40)  # the same suite, a local store
    remote = ObjectStore(s3.url("home"))
    keys = sorted(r.key for r in first)
    assert sorted(k.removeprefix("results/records/").removesuffix(".json")
                  for k in remote.listing("results/records")) == keys
    assert any(key.startswith("results/artifacts/") for key in remote.listing())
    assert {r.key: r.metrics for r in first} == {r.key: r.metrics for r in local}

    another_machine(monkeypatch, tmp_path / "machine-2")
    lines: list[str] = []
    again = mmbench.run(suite, limit=40, log=lines.append)
    assert sorted(r.key for r in again) == keys and not any("fitted" in line for line in lines)
    # New evaluations of the same fitted models: their artifacts come from the remote store.
    lines.clear()
    views = mmbench.run(_suite(tmp_path, ["majority", "concat-fusion"], diagnostics=["modality"]),
                        limit=40, log=lines.append)
    assert len(views) == 2 * 3
    assert sum("loaded from its artifact" in line for line in lines) == 2
    assert not any("fitted in" in line for line in lines)
    out = mmbench.write_leaderboard(out=tmp_path / "board")
    csv = (tmp_path / "board" / "leaderboard.csv").read_text()
    assert "concat-fusion" in csv and "majority" in csv and out is not None
    clean = {r.key: r.metrics for r in open_store(s3.url("home", "results")).records() if r.view == "clean"}
    assert clean == {r.key: r.metrics for r in ResultStore(tmp_path / "local").records()}


def test_the_cli_runs_into_a_remote_store_and_reads_it_back(s3: S3, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    tiny = str(Path(__file__).parent / "data" / "tiny_suite.yaml")

    def cli(*args: str, cache: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "MMBENCH_HOME": str(tmp_path / "home"), "MMBENCH_CACHE": str(tmp_path / cache)}
        return subprocess.run([sys.executable, "-m", "mmbench.cli", *args], capture_output=True, text=True,
                              env=env, timeout=600)

    store = s3.url("results")
    run = cli("run", "--suite", tiny, "--models", "majority", "--seeds", "1", "--store", store,
              "--leaderboard-dir", str(tmp_path / "board"), "--quiet", cache="m1")
    assert run.returncode == 0, run.stderr
    board = cli("leaderboard", "--store", store, "--out", str(tmp_path / "board-2"), cache="m2")
    assert board.returncode == 0, board.stderr
    assert (tmp_path / "board-2" / "leaderboard.csv").read_text() == \
        (tmp_path / "board" / "leaderboard.csv").read_text()
    doctor = cli("doctor", "--store", store, cache="m2")
    assert doctor.returncode == 2 and "is a remote store" in doctor.stderr
    bad = cli("leaderboard", "--store", "s3://" + s3.bucket + "/../x", "--out", str(tmp_path / "b3"), cache="m2")
    assert bad.returncode == 2 and "not a plain object name" in bad.stderr


def test_a_release_the_server_never_got_leaves_a_lease_that_runs_out(s3: S3, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = ObjectStore(s3.url("store"))
    lease = leases.take(objects, "job", term=3)
    assert lease is not None

    def unreachable(*args: Any, **kwargs: Any) -> bool:
        raise OSError("connection reset")

    monkeypatch.setattr(objects, "delete", unreachable)
    lease.release()  # no error: the run that held it goes on
    assert leases.take(objects, "job", term=3) is None  # still in its term
    time.sleep(max(0.0, lease.expires - time.time()) + 0.2)
    taken = leases.take(objects, "job", term=3)
    assert taken is not None  # ran out: taken over
    taken.release()
