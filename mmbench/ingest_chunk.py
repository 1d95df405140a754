"""One chunk of a split, start to finish: read and check its images, validate its records
and write the records kept as one Arrow shard file.

`mmbench.data.build` runs chunks in its own process or in forked worker processes; the
result is the same either way. What a chunk cannot decide alone, whether an id was seen
in an earlier chunk, is left to the builder, which reads the outcomes in chunk order.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmbench.adapters.base import ImageRef, Item, Rejection
from mmbench.corpus_root import Boundary, OutsideCorpus, Resolver, Unresolvable
from mmbench.images import BadImage, inspect_image
from mmbench.read_ahead import ReadAhead
from mmbench.schema import SchemaError, features, validate

# Rows per chunk: one shard file each, and the unit of work handed to a worker process.
CHUNK_ROWS = 1024
# Image bytes in hand per chunk, at most (about: the item that crosses it is included).
CHUNK_BYTES = 64 << 20
# Rows per Arrow record batch inside a shard, fewer when their images reach BATCH_BYTES.
BATCH_ROWS = 256
BATCH_BYTES = 16 << 20

# One shared encoder: json.dumps would build a new one per record. Same output as
# json.dumps(sort_keys=True, ensure_ascii=False), so fingerprints do not change.
_CANON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, check_circular=False)

# What pyarrow raises for a value its column cannot hold (ArrowInvalid is a ValueError,
# ArrowTypeError a TypeError).
ARROW_ERRORS = (TypeError, ValueError, OverflowError)

# A row the chunk wrote: its id and the canonical JSON that goes into the fingerprint.
Kept = tuple[str, bytes]
Outcome = Kept | Rejection
# An image path -> the resolved path to open, or why it may not be opened.
Targets = dict[Any, str | BadImage]


@dataclass(frozen=True)
class ChunkJob:
    split: str
    shard: str  # the Arrow file to write (not created when no row is kept)
    items: list[Item]
    max_pixels: int
    full_decode: bool
    # The corpus root image paths must lie in; None (a generated corpus) opens them as given.
    boundary: Boundary | None = None


def import_libraries() -> None:
    """Import what a chunk needs (about 0.7 s): done once before forking workers, so that
    each worker does not pay for it again."""
    import PIL.Image  # noqa: F401
    import pyarrow  # noqa: F401

    arrow_schema()  # imports `datasets`


def _file_refs(items: list[Item]) -> list[ImageRef]:
    """The images the chunk's records will read from files, in the order they will be read."""
    return [ref for item in items if not isinstance(item, Rejection)
            for ref in item.get("images", ())
            if isinstance(ref, ImageRef) and ref.data is None and ref.path is not None]


def _image_paths(items: list[Item]) -> list[Any]:
    return [ref.path for ref in _file_refs(items)]


def _targets(items: list[Item], resolver: Resolver | None) -> Targets | None:
    """Every image path of the chunk resolved and checked against the corpus root, before
    any is opened; None when paths are opened as given (no root, or paths may leave it)."""
    if resolver is None:
        return None
    targets: Targets = {}
    for ref in _file_refs(items):
        if ref.path in targets:
            continue
        try:
            targets[ref.path] = resolver.resolve(ref.path, "image")
        except OutsideCorpus as err:
            targets[ref.path] = BadImage(str(err))
        except Unresolvable as err:
            targets[ref.path] = BadImage(f"image path {ref.name!r} cannot be resolved: "
                                         f"{err.why}")
    return targets


def _reader(job: ChunkJob, resolver: Resolver | None, targets: Targets | None) -> ReadAhead:
    """The chunk's image files, opened ahead of use: as given, or only those that passed
    the corpus root check, each opened at the path it was checked at."""
    paths = _image_paths(job.items)
    if resolver is None or targets is None:
        return ReadAhead(paths)
    checked = [t for t in map(targets.__getitem__, paths) if isinstance(t, str)]
    return ReadAhead(checked, opener=resolver.open)


def resolve_image(ref: Any, files: ReadAhead, max_pixels: int, full_decode: bool,
                  targets: Targets | None = None) -> dict[str, Any]:
    """An `ImageRef` -> the record's image dict (bytes as published, sha256, size, format)."""
    if not isinstance(ref, ImageRef):
        raise BadImage(f"adapter yielded an image of type {type(ref).__name__}, not ImageRef")
    data = ref.data
    if data is None:
        if ref.path is None:
            raise BadImage(f"image {ref.name}: neither bytes nor a path")
        target = ref.path if targets is None else targets[ref.path]
        if isinstance(target, BadImage):  # never opened
            raise BadImage(str(target))
        try:
            data = files.read(target)
        except FileNotFoundError:
            raise BadImage(f"missing image file: {ref.name}") from None
        except (OSError, ValueError) as err:  # ValueError: a NUL or lone surrogate in the path
            raise BadImage(f"unreadable image file: {ref.name!r}: {err}") from None
    try:
        facts = inspect_image(data, max_pixels=max_pixels, full_decode=full_decode)
    except BadImage as err:
        raise BadImage(f"{err} ({ref.name})") from None
    if not ref.name.isascii():
        try:
            ref.name.encode()
        except UnicodeEncodeError:
            raise BadImage(f"image name {ref.name!r} is not valid UTF-8") from None
    facts["bytes"] = data
    facts["path"] = ref.name
    return facts


def locate(item: dict[str, Any]) -> tuple[str, str]:
    """(source file, locator) of an adapter's item, for its rejection."""
    source = item.get("source") or {}
    return str(source.get("file", "")), str(source.get("locator", item.get("id", "")))


def canonical(record: dict[str, Any]) -> bytes:
    """The record as the fingerprint sees it: sorted JSON with image bytes as their sha256.

    Encoding it is also the check that every text is valid Unicode: a lone surrogate
    (which JSON's "\\ud800" escapes can carry) cannot be stored as UTF-8.
    """
    canon = dict(record)
    canon["images"] = [img["sha256"] for img in record["images"]]
    try:
        return _CANON.encode(canon).encode()
    except UnicodeEncodeError:
        raise SchemaError(f"record {record['id']!r}: field '{_unencodable(record)}' is not "
                          f"valid Unicode (it holds a lone surrogate)") from None


def _unencodable(record: dict[str, Any]) -> str:
    """The first field (or list element) of `record` that UTF-8 cannot encode."""
    def bad(text: Any) -> bool:
        try:
            json.dumps(text, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            return True
        return False

    for name, value in record.items():
        if name == "images":  # their paths are checked when read; the rest is not text
            continue
        if isinstance(value, list):
            for i, element in enumerate(value):
                if bad(element):
                    return f"{name}[{i}]"
        elif isinstance(value, dict):
            for key, element in value.items():
                if bad(key) or bad(element):
                    return f"{name}.{key}"
        elif bad(value):
            return name
    return "?"


def finish(item: dict[str, Any], split: str, files: ReadAhead, max_pixels: int,
           full_decode: bool, targets: Targets | None = None) -> dict[str, Any]:
    """The adapter's item as a checked record; raises BadImage or SchemaError."""
    record = dict(item)  # shallow: a rejected item still shows what the adapter yielded
    record["split"] = split
    record["images"] = [resolve_image(ref, files, max_pixels, full_decode, targets)
                        for ref in record.get("images", [])]
    # The sha256 values were just computed from these bytes; hashing again is waste.
    validate(record, check_digests=False)
    return record


def run_chunk(job: ChunkJob) -> list[Outcome]:
    """Check every item of the chunk and write the good ones to `job.shard`, a record batch
    at a time (so a worker holds at most one batch of image bytes, about 16 MiB)."""
    outcomes: list[Outcome] = []
    batch: list[tuple[int, dict[str, Any]]] = []  # (outcome index, record)
    held = 0  # image bytes in the batch
    shard = _LazyShard(Path(job.shard))
    boundary = job.boundary
    resolver = None if boundary is None or boundary.allow_outside else Resolver(boundary)
    targets = _targets(job.items, resolver)
    try:
        with _reader(job, resolver, targets) as files:
            for item in job.items:
                if isinstance(item, Rejection):
                    outcomes.append(item)
                    continue
                try:
                    record = finish(item, job.split, files, job.max_pixels, job.full_decode,
                                    targets)
                    canon = canonical(record)
                except (BadImage, SchemaError) as err:
                    outcomes.append(Rejection(*locate(item), str(err)))
                    continue
                batch.append((len(outcomes), record))
                outcomes.append((record["id"], canon))
                held += sum(len(image["bytes"]) for image in record["images"])
                if len(batch) == BATCH_ROWS or held >= BATCH_BYTES:
                    shard.write(batch, outcomes, job.items)
                    batch, held = [], 0
        shard.write(batch, outcomes, job.items)
    finally:
        shard.close()
    return outcomes


class _LazyShard:
    """The chunk's shard file, created at its first row. A batch Arrow cannot take (which
    validation should have prevented) is written row by row, and each row it still
    refuses becomes a rejection instead of failing the whole build."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: ShardWriter | None = None

    def write(self, batch: list[tuple[int, dict[str, Any]]], outcomes: list[Outcome],
              items: list[Item]) -> None:
        if not batch:
            return
        if self.writer is None:
            self.writer = ShardWriter(self.path)
        try:
            self.writer.write_rows([record for _, record in batch])
            return
        except ARROW_ERRORS:
            pass
        for at, record in batch:
            try:
                self.writer.write_rows([record])
            except ARROW_ERRORS as err:
                reason = f"record {record['id']!r} cannot be stored in Arrow: {err}"
                outcomes[at] = Rejection(*locate(items[at]), reason)  # type: ignore[arg-type]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@functools.cache
def arrow_schema() -> Any:
    """The record schema as Arrow, with the `datasets` features in its metadata."""
    return features().arrow_schema


class ShardWriter:
    """Rows -> one Arrow stream file (the format `datasets` memory-maps), written as record
    batches built column by column.

    `datasets`' per-row `ArrowWriter.write` re-types every value in Python; one
    `pyarrow.array` call per column is several times cheaper, and writing through an
    `OSFile` skips a Python file object. The schema carries the `datasets` features in
    its metadata, as ArrowWriter's files do.
    """

    def __init__(self, path: Path) -> None:
        import pyarrow as pa

        self.schema = arrow_schema()
        self.sink = pa.OSFile(str(path), "wb")
        try:
            self.writer = pa.ipc.new_stream(self.sink, self.schema)
        except BaseException:
            self.sink.close()
            raise

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa

        for start in range(0, len(rows), BATCH_ROWS):
            batch = rows[start:start + BATCH_ROWS]
            columns = [pa.array([row[f.name] for row in batch], type=f.type) for f in self.schema]
            self.writer.write_table(pa.Table.from_arrays(columns, schema=self.schema))

    def write_table(self, table: Any) -> None:
        self.writer.write_table(table.cast(self.schema), max_chunksize=BATCH_ROWS)

    def close(self) -> None:
        try:
            self.writer.close()
        finally:
            self.sink.close()


def write_shard(path: Path, rows: list[dict[str, Any]]) -> None:
    writer = ShardWriter(path)
    try:
        writer.write_rows(rows)
    finally:
        writer.close()
