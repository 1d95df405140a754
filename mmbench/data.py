"""The only Arrow writer: adapter records -> validated, fingerprinted dataset on disk.

Layout under the dataset home: `<name>/info.json`, `<name>/rejections.jsonl` and
`<name>/<split>/data.arrow` (the Arrow stream format `datasets` memory-maps).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmbench.adapters.base import Adapter, ImageRef, Item, Rejection, require_root
from mmbench.home import datasets_dir
from mmbench.images import DEFAULT_MAX_PIXELS, BadImage, inspect_image
from mmbench.schema import SCHEMA_VERSION, SchemaError, features, validate

WRITER_BATCH_ROWS = 256


class DatasetNotFound(FileNotFoundError):
    pass


@dataclass
class SplitReport:
    read: int = 0
    kept: int = 0
    rejected: int = 0


@dataclass
class IngestReport:
    """What one build did: read = kept + rejected, per split and in total."""

    name: str
    path: str
    fingerprint: str
    splits: dict[str, SplitReport] = field(default_factory=dict)
    reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def read(self) -> int:
        return sum(s.read for s in self.splits.values())

    @property
    def kept(self) -> int:
        return sum(s.kept for s in self.splits.values())

    @property
    def rejected(self) -> int:
        return sum(s.rejected for s in self.splits.values())

    def summary(self) -> str:
        lines = [f"{self.name}: read {self.read} = kept {self.kept} + rejected {self.rejected}"
                 f" in {self.seconds:.1f}s  fingerprint {self.fingerprint[:16]}"]
        for split, rep in self.splits.items():
            lines.append(f"  {split:<12} read {rep.read:>8}  kept {rep.kept:>8}"
                         f"  rejected {rep.rejected:>6}")
        for reason, count in self.reasons.most_common(10):
            lines.append(f"  rejected {count:>6} x {reason}")
        if self.rejected:
            lines.append(f"  rejection report: {Path(self.path) / 'rejections.jsonl'}")
        return "\n".join(lines)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    adapter: str
    adapter_version: str
    schema_version: str
    fingerprint: str
    splits: dict[str, int]
    class_names: list[str] | None
    tasks: list[str]
    options: dict[str, Any]
    created: str
    path: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names or [])


def _reason_key(reason: str) -> str:
    # Group "missing image file a.jpg" and "... b.jpg" under one summary line.
    return reason.split(":")[0][:60]


# One shared encoder: json.dumps would build a new one per record. Same output as
# json.dumps(sort_keys=True, ensure_ascii=False), so fingerprints do not change.
_CANON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, check_circular=False)


class _Builder:
    def __init__(self, max_pixels: int, full_decode: bool):
        self.max_pixels = max_pixels
        self.full_decode = full_decode
        self.seen_ids: dict[str, str] = {}
        self.hasher = hashlib.sha256(f"mmbench-schema-{SCHEMA_VERSION}".encode())

    def resolve_image(self, ref: Any) -> dict[str, Any]:
        if not isinstance(ref, ImageRef):
            raise BadImage(f"adapter yielded an image of type {type(ref).__name__}, not ImageRef")
        data = ref.data
        if data is None:
            if ref.path is None:
                raise BadImage(f"image {ref.name}: neither bytes nor a path")
            try:
                data = ref.path.read_bytes()
            except FileNotFoundError:
                raise BadImage(f"missing image file: {ref.name}") from None
            except OSError as err:
                raise BadImage(f"unreadable image file: {ref.name}: {err}") from None
        try:
            facts = inspect_image(data, max_pixels=self.max_pixels, full_decode=self.full_decode)
        except BadImage as err:
            raise BadImage(f"{err} ({ref.name})") from None
        facts["bytes"] = data
        facts["path"] = ref.name
        return facts

    def finish(self, item: dict[str, Any], split: str) -> dict[str, Any]:
        """Resolve images, validate, check id uniqueness; raise BadImage/SchemaError."""
        # A shallow copy, so a rejected item still shows the adapter what it yielded.
        record = dict(item)
        record["split"] = split
        record["images"] = [self.resolve_image(ref) for ref in record.get("images", [])]
        # The sha256 values were just computed from these bytes; hashing again is waste.
        validate(record, check_digests=False)
        rid = record["id"]
        if rid in self.seen_ids:
            raise SchemaError(f"duplicate id: {rid!r} (first seen in split {self.seen_ids[rid]!r})")
        self.seen_ids[rid] = split
        return record

    def digest(self, record: dict[str, Any]) -> None:
        canon = dict(record)
        canon["images"] = [img["sha256"] for img in record["images"]]
        self.hasher.update(_CANON.encode(canon).encode())


def _locate(item: dict[str, Any]) -> tuple[str, str]:
    source = item.get("source") or {}
    return str(source.get("file", "")), str(source.get("locator", item.get("id", "")))


class _BatchWriter:
    """Rows -> Arrow record batches, built column by column.

    `datasets`' per-row `ArrowWriter.write` re-types every value in Python; building
    each column with one `pyarrow.array` call is several times cheaper. The file is
    still written by ArrowWriter, so it carries the `datasets` features metadata.
    """

    def __init__(self, path: Path) -> None:
        from datasets.arrow_writer import ArrowWriter

        feats = features()
        self.schema = feats.arrow_schema
        self.writer = ArrowWriter(features=feats, path=str(path),
                                  writer_batch_size=WRITER_BATCH_ROWS)
        self.rows: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self.rows.append(record)
        if len(self.rows) >= WRITER_BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if not self.rows:
            return
        rows, self.rows = self.rows, []
        columns = [pa.array([row[f.name] for row in rows], type=f.type) for f in self.schema]
        self.writer.write_table(pa.Table.from_arrays(columns, schema=self.schema))

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.writer.finalize()
            self.writer.close()


def _write_split(builder: _Builder, items: Iterator[Item], split: str, out: Path,
                 report: IngestReport, rejections: Any) -> int:
    rep = report.splits.setdefault(split, SplitReport())
    out.mkdir(parents=True, exist_ok=True)
    writer = _BatchWriter(out / "data.arrow")
    try:
        for item in items:
            rep.read += 1
            if isinstance(item, Rejection):
                rejection = item
            else:
                try:
                    record = builder.finish(item, split)
                except (BadImage, SchemaError) as err:
                    file, locator = _locate(item)
                    rejection = Rejection(file, locator, str(err))
                else:
                    writer.write(record)
                    builder.digest(record)
                    rep.kept += 1
                    continue
            rep.rejected += 1
            report.reasons[_reason_key(rejection.reason)] += 1
            line = json.dumps({"split": split, **asdict(rejection)}, ensure_ascii=False)
            rejections.write(line + "\n")
    finally:
        writer.close()
    return rep.kept


def build(adapter: Adapter, root: Path | str | None = None, *, name: str | None = None,
          home: Path | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
          full_decode: bool = False) -> IngestReport:
    """Stream every split of `adapter` at `root` into Arrow under the dataset home."""
    started = time.perf_counter()
    name = name or adapter.name
    root_path = Path(root) if root is not None else None
    # Generated corpora (shapes, openmoji) ignore the root they are given.
    corpus_root = (require_root(root_path, adapter.name) if adapter.needs_root
                   else root_path or Path("."))
    base = home or datasets_dir()
    final = base / name
    staging = base / f".{name}.building-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    builder = _Builder(max_pixels, full_decode)
    report = IngestReport(name=name, path=str(final), fingerprint="")
    try:
        corpus = adapter.info(corpus_root)
        splits = adapter.splits(corpus_root)
        sizes: dict[str, int] = {}
        with (staging / "rejections.jsonl").open("w", encoding="utf-8") as rejections:
            for split in splits:
                builder.hasher.update(f"split:{split}".encode())
                items = adapter.examples(corpus_root, split)
                sizes[split] = _write_split(builder, items, split, staging / split, report,
                                            rejections)
        report.fingerprint = builder.hasher.hexdigest()
        info = DatasetInfo(
            name=name, adapter=adapter.name, adapter_version=adapter.version,
            schema_version=SCHEMA_VERSION, fingerprint=report.fingerprint, splits=sizes,
            class_names=corpus.class_names, tasks=list(corpus.tasks), options=adapter.options(),
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), path=str(final),
        )
        payload = {**asdict(info), "extra": corpus.extra,
                   "ingest": {"read": report.read, "kept": report.kept,
                              "rejected": report.rejected}}
        (staging / "info.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False))
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def dataset_path(name: str, home: Path | None = None) -> Path:
    return (home or datasets_dir()) / name


def info(name: str, home: Path | None = None) -> DatasetInfo:
    path = dataset_path(name, home) / "info.json"
    if not path.is_file():
        raise DatasetNotFound(f"dataset {name!r} is not in {path.parent.parent}; "
                              f"build it with `mmbench ingest`")
    raw = json.loads(path.read_text())
    fields = DatasetInfo.__dataclass_fields__
    return DatasetInfo(**{k: v for k, v in raw.items() if k in fields})


def exists(name: str, home: Path | None = None) -> bool:
    return (dataset_path(name, home) / "info.json").is_file()


def load(name: str, home: Path | None = None) -> Any:
    """The dataset as a `datasets.DatasetDict` keyed by split (memory-mapped)."""
    from datasets import Dataset, DatasetDict

    meta = info(name, home)
    base = dataset_path(name, home)
    return DatasetDict({split: Dataset.from_file(str(base / split / "data.arrow"))
                        for split in meta.splits})


def list_datasets(home: Path | None = None) -> list[DatasetInfo]:
    base = home or datasets_dir()
    if not base.is_dir():
        return []
    return [info(p.name, home) for p in sorted(base.iterdir())
            if p.is_dir() and not p.name.startswith(".") and (p / "info.json").is_file()]


def disk_size(name: str, home: Path | None = None) -> int:
    base = dataset_path(name, home)
    return sum(f.stat().st_size for f in base.rglob("*") if f.is_file())
