"""The append-only result store: one immutable RunRecord (JSON) per finished job,
with its per-sample predictions beside it as Parquet."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RECORD_VERSION = "1"


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

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunRecord:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in raw.items() if k in known})


class RecordExists(FileExistsError):
    pass


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
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


class ResultStore:
    """records/<key>.json and predictions/<key>.parquet under one root."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def record_path(self, key: str) -> Path:
        return self.root / "records" / f"{key}.json"

    def predictions_path(self, key: str) -> Path:
        return self.root / "predictions" / f"{key}.parquet"

    def has(self, key: str) -> bool:
        return self.record_path(key).is_file()

    def write(self, record: RunRecord, predictions: Any | None = None) -> Path:
        """Predictions first, record last: a record's presence means the job is complete."""
        if self.has(record.key):
            raise RecordExists(f"record {record.key} already exists; the store is append-only")
        if predictions is not None:
            import pyarrow.parquet as pq

            path = self.predictions_path(record.key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            pq.write_table(predictions, tmp)
            os.replace(tmp, path)
        path = self.record_path(record.key)
        _atomic_write(path, record.to_json().encode())
        return path

    def get(self, key: str) -> RunRecord:
        return RunRecord.from_dict(json.loads(self.record_path(key).read_text()))

    def records(self) -> list[RunRecord]:
        folder = self.root / "records"
        if not folder.is_dir():
            return []
        out = []
        for path in sorted(folder.glob("*.json")):
            try:
                out.append(RunRecord.from_dict(json.loads(path.read_text())))
            except (json.JSONDecodeError, TypeError) as err:
                raise ValueError(f"corrupt run record {path}: {err}") from err
        return out

    def predictions(self, key: str) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(self.predictions_path(key))
