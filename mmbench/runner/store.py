"""The append-only result store: one immutable RunRecord (JSON) per finished job,
with its per-sample predictions beside it as Parquet."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmbench.names import check_key
from mmbench.paths import inside, make_dir, remove_file

RECORD_VERSION = "2"  # 2: train_dataset, train_fingerprint, view, fit_key


@dataclass(frozen=True)
class RunRecord:
    key: str
    benchmark: str
    dataset: str
    dataset_fingerprint: str
    task: str
    eval_split: str
    model: str
    model_config: dict[str, Any]
    config_hash: str
    seed: int
    limit: int | None
    n: int
    metrics: dict[str, dict[str, Any]]  # name -> {value, ci_low, ci_high, higher_is_better}
    primary_metric: str = ""
    model_info: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    created: str = ""
    record_version: str = RECORD_VERSION
    # Where the model was fitted: "" (or `dataset` itself) is in-distribution; another corpus
    # name makes this a transfer row, never ranked with in-distribution ones.
    train_dataset: str = ""
    train_fingerprint: str = ""
    view: str = "clean"  # what the evaluation saw of its split (the diagnostics add others)
    fit_key: str = ""  # the fitted-model artifact the evaluation used ("" when none)
    diagnostics: dict[str, Any] = field(default_factory=dict)  # e.g. reliability diagram bins
    # The `mmbench run` invocation that wrote the record (`new_run_id`; "" in records written
    # before runs were named): the run history groups records by it.
    run: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=str)

    @property
    def trained_on(self) -> str:
        """The corpus the model was fitted on (the evaluation corpus when in-distribution)."""
        return self.train_dataset or self.dataset

    @property
    def transfer(self) -> bool:
        return self.trained_on != self.dataset

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunRecord:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in raw.items() if k in known})


FAILURES = "failures"  # failures/<run id>/<key>.json: the steps a run could not finish


def new_run_id() -> str:
    """A name for one invocation of the driver: its UTC start time (sortable) and a random
    suffix, so two runs started in the same second stay apart."""
    import secrets
    import time

    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


class RecordExists(FileExistsError):
    pass


class ClaimLost(RuntimeError):
    """The claim on a step ran out under this process and another took it over (a remote
    store's lease): its record is not written, the step is the other process's now."""


class DamagedStore(ValueError):
    """A file of the store that cannot be read as what it should be: the message names the
    file, what is wrong (`why`) and what to do."""

    what = "file"

    def __init__(self, path: Path, why: str, root: Path) -> None:
        super().__init__(path, why, root)  # all in args, so it pickles from a worker
        self.path, self.why, self.root = path, why, root

    def __str__(self) -> str:
        return (f"damaged {self.what} {self.path}: {self.why}; move it aside with "
                f"`mmbench doctor --store {self.root} --quarantine`")


class DamagedRecord(DamagedStore):
    what = "run record"


class DamagedPredictions(DamagedStore):
    what = "predictions"


# Temporary files carry their writer's pid, so a sweep can tell a dead writer's from a
# live one's: `.<target>.<pid>.<random>`, beside the target.
TEMP_NAME = re.compile(r"\.(?P<target>.+\.(?:json|parquet))\.(?P<pid>\d+)\.[A-Za-z0-9_]+")


def temp_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def _umask() -> int:
    # Read, not set and restored: setting it would race with threads creating files.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def open_temp(path: Path) -> tuple[int, str]:
    """A new temporary file beside `path` (descriptor, name), with the permissions a plain
    write would give it (mkstemp's own are owner-only)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path))
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, tmp


# A record's fields that readers rely on, with the types they must have.
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "key": str, "benchmark": str, "dataset": str, "dataset_fingerprint": str, "task": str,
    "eval_split": str, "model": str, "config_hash": str, "seed": int, "n": int,
    "limit": (int, type(None)), "model_config": dict, "metrics": dict,
}


def _record_problem(raw: Any, expected_key: str | None) -> str | None:
    if not isinstance(raw, dict):
        return f"holds a JSON {type(raw).__name__}, not a run record object"
    for name, kind in _FIELD_TYPES.items():
        if name not in raw:
            return f"has no {name!r} field"
        if not isinstance(raw[name], kind) or isinstance(raw[name], bool):
            return f"field {name!r} is a {type(raw[name]).__name__}"
    if not all(isinstance(m, dict) and "value" in m for m in raw["metrics"].values()):
        return "field 'metrics' holds an entry without a value"
    if expected_key is not None and raw["key"] != expected_key:
        return f"holds the record of key {raw['key']!r}, not of its file name"
    return None


def load_record(path: Path, root: Path | None = None, *, match_name: bool = True) -> RunRecord:
    """The run record in the file `path`, or DamagedRecord naming the file and what to do.
    With `match_name`, the record's key must be the file's name (as in a store)."""
    store = root if root is not None else path.parent.parent
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as err:  # ValueError: not JSON, or not UTF-8
        raise DamagedRecord(path, f"not readable JSON ({err})", store) from None
    problem = _record_problem(raw, path.name.removesuffix(".json") if match_name else None)
    if problem is not None:
        raise DamagedRecord(path, problem, store)
    return RunRecord.from_dict(raw)


def read_predictions(path: Path, root: Path) -> Any:
    """The Parquet table at `path`, or DamagedPredictions naming the file and what to do."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException) as err:
        raise DamagedPredictions(path, f"not readable Parquet ({err})", root) from None


class StoreNotAFolder(NotADirectoryError):
    """A result store path that exists but is not a folder."""


def write_once(path: Path, data: bytes, base: Path) -> None:
    make_dir(path.parent, base, "store folder")
    inside(path, base, "run record")
    fd, tmp = open_temp(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # link() refuses an existing target, so a finished record is never overwritten.
        os.link(tmp, path)
    except FileExistsError:
        raise RecordExists(f"record {path} already exists; the store is append-only") from None
    finally:
        os.unlink(tmp)


def write_predictions(table: Any, path: Path, base: Path,
                      publish: Callable[[Path], None] | None = None) -> None:
    """The Parquet table at `path`, written aside and moved into place (after `publish`
    got the finished file, when given: a remote store's upload)."""
    import pyarrow.parquet as pq

    make_dir(path.parent, base, "store folder")
    fd, tmp = open_temp(path)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        if publish is not None:
            publish(Path(tmp))
        os.replace(tmp, inside(path, base, "predictions"))
    finally:
        remove_file(tmp, base, "temporary file")


class ResultStore:
    """records/<key>.json and predictions/<key>.parquet under one root."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        # Checked before any work, so a mistyped --store fails now and not after training.
        if self.root.exists() and not self.root.is_dir():
            raise StoreNotAFolder(f"result store {self.root} is not a folder; "
                                  f"name a folder (it is created if absent)")

    def record_path(self, key: str) -> Path:
        return self.root / "records" / f"{check_key(key)}.json"

    def predictions_path(self, key: str) -> Path:
        return self.root / "predictions" / f"{check_key(key)}.parquet"

    @property
    def location(self) -> str:
        """Where the store is, as a user names it (a folder, or a URL for a remote store)."""
        return str(self.root)

    def has(self, key: str) -> bool:
        return self.record_path(key).is_file()

    def has_predictions(self, key: str) -> bool:
        return self.predictions_path(key).is_file()

    def claim(self, key: str, *, wait: bool = True) -> contextlib.AbstractContextManager[bool]:
        """This process's claim on job `key` (see `mmbench.runner.claims`)."""
        from mmbench.runner.claims import claim

        return claim(self.root, key, wait=wait)

    def write(self, record: RunRecord, predictions: Any | None = None) -> Path:
        """Predictions first, record last: a record's presence means the job is complete."""
        if self.has(record.key):
            raise RecordExists(f"record {record.key} already exists; the store is append-only")
        if predictions is not None:
            write_predictions(predictions, self.predictions_path(record.key), self.root)
        path = self.record_path(record.key)
        write_once(path, record.to_json().encode(), self.root)
        return path

    def failure_path(self, run: str, key: str) -> Path:
        return self.root / FAILURES / check_key(run, "run id") / f"{check_key(key)}.json"

    def write_failure(self, run: str, key: str, failure: dict[str, Any]) -> Path:
        """A step that failed in run `run`: its error and traceback, beside the records (a
        later run tries the step again; its record, once written, is what counts)."""
        path = self.failure_path(run, key)
        write_once(path, json.dumps({"key": key, "run": run, **failure}, indent=2, sort_keys=True).encode(),
                   self.root)
        return path

    def get(self, key: str) -> RunRecord:
        """The record of `key`; DamagedRecord (naming the file) when it cannot be read."""
        return load_record(self.record_path(key), self.root)

    def find(self, key: str) -> RunRecord | None:
        """The record of `key`, or None when the store has none (DamagedRecord as `get`)."""
        try:
            return self.get(key)
        except FileNotFoundError:
            return None

    def records(self) -> list[RunRecord]:
        folder = self.root / "records"
        if not folder.is_dir():
            return []
        return [load_record(path, self.root) for path in sorted(folder.glob("*.json"))]

    def predictions(self, key: str) -> Any:
        return read_predictions(self.predictions_path(key), self.root)
