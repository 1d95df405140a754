"""A result store on object storage (`--store s3://bucket/results`, or the `results` of a
remote `MMBENCH_HOME`), with a local mirror on each machine that reads or writes it.

Remote layout, as a local store's: `records/<key>.json`, `predictions/<key>.parquet`,
`failures/<run>/<key>.json`, `artifacts/<fit key>/...`, and `claims/<key>.json` leases.

What makes it safe without rename or locks:
- a record is written with a create-only PUT, so the store stays append-only with any
  number of writers on any number of machines, and a record that is there is whole;
- predictions are written before their record, so a record's presence still means its
  job is complete; they are written under the step's lease, and a record is written only
  while that lease is held (a holder cut off past its term writes nothing);
- claims are leases (`mmbench.runner.leases`), plus this machine's own file lock in the
  mirror, so processes on one machine do not ask the server;
- an artifact's files go under a prefix of their writer's own and its manifest, written
  last and create-only, names that prefix: two machines fitting the same model (the
  lease of a fit is local) leave one whole artifact, never a mix of their files.
Records, predictions and artifacts never change once written, so the mirror's copies
are always current; only listings go to the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmbench.home import mirror_of
from mmbench.names import check_key
from mmbench.objects import ObjectStore, is_url
from mmbench.paths import inside, make_dir, remove_tree
from mmbench.runner.artifacts import ARTIFACTS, MANIFEST, ArtifactStore, check_trusted
from mmbench.runner.leases import Lease, hold
from mmbench.runner.store import (
    FAILURES,
    ClaimLost,
    RecordExists,
    ResultStore,
    RunRecord,
    load_record,
    write_once,
    write_predictions,
)
from mmbench.tasks.base import Fitted


class RemoteResultStore(ResultStore):
    def __init__(self, url: str) -> None:
        self.objects = ObjectStore(url)
        self.url = self.objects.url
        self.leases: dict[str, Lease] = {}
        super().__init__(mirror_of(self.url, "stores"))

    @property
    def location(self) -> str:
        return self.url

    def _fetch(self, key: str, local: Path) -> bool:
        """Copy the object `key` into the mirror at `local` (once; they never change)."""
        if local.is_file():
            return True
        raw = self.objects.read(key)
        if raw is None:
            return False
        self._keep(local, raw)
        return True

    def _keep(self, local: Path, raw: bytes) -> None:
        with contextlib.suppress(RecordExists):  # another process of this machine wrote it first
            write_once(local, raw, self.root)

    def has(self, key: str) -> bool:
        return self.record_path(key).is_file() or self.objects.exists(f"records/{check_key(key)}.json")

    def has_predictions(self, key: str) -> bool:
        return self.predictions_path(key).is_file() \
            or self.objects.exists(f"predictions/{check_key(key)}.parquet")

    def write(self, record: RunRecord, predictions: Any | None = None) -> Path:
        lease = self.leases.get(record.key)
        if lease is not None and not lease.valid():
            raise ClaimLost(f"the claim on {record.key} in {self.url} ran out under this process; "
                            f"its record is left to the process that took it over")
        if self.has(record.key):
            raise RecordExists(f"record {record.key} already exists; the store is append-only")
        if predictions is not None:
            write_predictions(predictions, self.predictions_path(record.key), self.root,
                              lambda done: self.objects.upload(done, f"predictions/{record.key}.parquet"))
        data = record.to_json().encode()
        if self.objects.create(f"records/{record.key}.json", data) is None:
            raise RecordExists(f"record {record.key} already exists in {self.url}; the store is append-only")
        path = self.record_path(record.key)
        self._keep(path, data)
        return path

    def write_failure(self, run: str, key: str, failure: dict[str, Any]) -> Path:
        path = super().write_failure(run, key, failure)
        self.objects.create(f"{FAILURES}/{run}/{key}.json", path.read_bytes())
        return path

    def get(self, key: str) -> RunRecord:
        path = self.record_path(key)
        if not self._fetch(f"records/{check_key(key)}.json", path):
            raise FileNotFoundError(f"no record {key} in {self.url}")
        return load_record(path, self.root)

    def records(self) -> list[RunRecord]:
        keys = [name.removeprefix("records/").removesuffix(".json")
                for name in self.objects.listing("records") if name.endswith(".json")]
        missing = {f"records/{key}.json": self.record_path(key) for key in keys
                   if not self.record_path(key).is_file()}  # record_path checks each key
        for name, raw in self.objects.read_many(list(missing)).items():  # one round of requests, not one each
            self._keep(missing[name], raw)
        return [self.get(key) for key in keys]

    def predictions(self, key: str) -> Any:
        from mmbench.runner.store import read_predictions

        path = self.predictions_path(key)
        if not self._fetch(f"predictions/{check_key(key)}.parquet", path):
            raise FileNotFoundError(f"no predictions of {key} in {self.url}")
        return read_predictions(path, self.root)

    @contextlib.contextmanager
    def claim(self, key: str, *, wait: bool = True) -> Iterator[bool]:
        """This machine's file lock on the step, then the store's lease on it."""
        with super().claim(key, wait=wait) as local:
            if not local:
                yield False
                return
            with hold(self.objects, check_key(key), wait=wait) as lease:
                if lease is None:
                    yield False
                    return
                self.leases[key] = lease
                try:
                    yield True
                finally:
                    self.leases.pop(key, None)


class RemoteArtifactStore(ArtifactStore):
    """The artifacts of a remote store, each read once into the mirror."""

    def __init__(self, url: str) -> None:
        store = ObjectStore(url)
        self.objects = store.child(ARTIFACTS)
        super().__init__(mirror_of(store.url, "stores"))

    def _remote_manifest(self, key: str) -> dict[str, Any] | None:
        manifest = self.objects.read_json(f"{check_key(key, 'artifact key')}/{MANIFEST}")
        if manifest is None:
            return None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list) \
                or not isinstance(manifest.get("files_at"), str):
            from mmbench.runner.artifacts import ArtifactError

            raise ArtifactError(f"artifact manifest {self.objects.url_of(key + '/' + MANIFEST)} "
                                f"names no files; move it aside to fit the model again")
        return manifest

    def has(self, key: str) -> bool:
        return super().has(key) or self.objects.exists(f"{check_key(key, 'artifact key')}/{MANIFEST}")

    def save(self, key: str, fitted: Fitted, identity: dict[str, Any], env: dict[str, Any]) -> Path:
        final = super().save(key, fitted, identity, env)
        if self.objects.exists(f"{key}/{MANIFEST}"):
            return final  # stored by another machine meanwhile: its artifact stays
        files_at = f"{key}/files-{secrets.token_hex(6)}"
        files = sorted(p.relative_to(final).as_posix() for p in final.rglob("*")
                       if p.is_file() and p != final / MANIFEST)
        for rel in files:
            self.objects.upload(final / rel, f"{files_at}/{rel}")
        manifest = json.loads((final / MANIFEST).read_text(encoding="utf-8"))
        manifest.update(files_at=files_at.split("/", 1)[1], files=files)
        self.objects.create(f"{key}/{MANIFEST}", json.dumps(manifest, indent=2, sort_keys=True).encode())
        return final

    def _pull(self, key: str) -> None:
        if super().has(key):
            return
        manifest = self._remote_manifest(key)
        if manifest is None:
            return
        make_dir(self.root, self.store_root, "artifacts folder")
        staging = inside(self.root / f".{key}.saving-{os.getpid()}", self.root, "artifact staging folder")
        remove_tree(staging, self.root, "artifact staging folder")
        make_dir(staging, self.root, "artifact staging folder")
        try:
            for rel in manifest["files"]:
                target = inside(staging.joinpath(*str(rel).split("/")), staging, "artifact file")
                self.objects.download(f"{key}/{manifest['files_at']}/{rel}", target)
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
            check_trusted(staging)
            with contextlib.suppress(OSError):  # another process of this machine pulled it meanwhile
                os.rename(staging, inside(self.path(key), self.root, "artifact"))
        finally:
            remove_tree(staging, self.root, "artifact staging folder")

    def problem(self, key: str) -> str | None:
        self._pull(key)
        return super().problem(key)

    def load(self, key: str, model: Any) -> Fitted:
        self._pull(key)
        return super().load(key, model)

    def stored_keys(self) -> list[str]:
        remote = {key.split("/")[0] for key in self.objects.listing()
                  if key.endswith("/" + MANIFEST) and key.count("/") == 1}
        return sorted(remote | set(super().stored_keys()))


def open_store(location: str | Path) -> ResultStore:
    """The result store at a folder or a storage URL."""
    if is_url(location):
        return RemoteResultStore(str(location))
    return ResultStore(location)


def open_artifacts(location: str | Path) -> ArtifactStore:
    """The artifacts of the result store at a folder or a storage URL."""
    if is_url(location):
        return RemoteArtifactStore(str(location))
    return ArtifactStore(location)
