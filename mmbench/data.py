"""Adapter records -> validated, fingerprinted dataset on disk (the only way one is made).

Layout under the dataset home: `<name>/info.json`, `<name>/rejections.jsonl` and
`<name>/<split>/data-K-of-N.arrow`, shards in the Arrow stream format `datasets`
memory-maps, written chunk by chunk by `mmbench.ingest_chunk`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

from mmbench.adapters.base import (
    Adapter,
    AdapterError,
    ImageRef,
    Item,
    Rejection,
    is_plain_name,
    require_root,
)
from mmbench.chunk_pool import fewer_collections, run_chunks, usable_workers, worker_pool
from mmbench.corpus_root import Boundary, activate, deactivate
from mmbench.dataset_sync import publish, pull, remote_names
from mmbench.home import datasets_dir, home_url
from mmbench.images import DEFAULT_MAX_PIXELS
from mmbench.ingest_chunk import (
    CHUNK_BYTES,
    CHUNK_ROWS,
    ChunkJob,
    Outcome,
    ShardWriter,
    locate,
    write_shard,
)
from mmbench.names import check_name
from mmbench.paths import inside, make_dir, remove_file, remove_tree
from mmbench.runner.claims import hold
from mmbench.runner.sweep import sweep_staging
from mmbench.schema import SCHEMA_VERSION
from mmbench.split import Split


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
    # What the adapter found beside the records, e.g. the zero-shot prompt templates a
    # corpus ships ("templates", CLIP_benchmark's zeroshot_classification_templates.txt).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_templates(self) -> list[str] | None:
        found = self.extra.get("templates") if isinstance(self.extra, dict) else None
        return [str(t) for t in found] if isinstance(found, list) and found else None

    @property
    def num_classes(self) -> int:
        return len(self.class_names or [])


def _reason_key(reason: str) -> str:
    # Group "missing image file a.jpg" and "... b.jpg" under one summary line.
    return reason.split(":")[0][:60]


def _chunk_jobs(items: Iterator[Item], split: str, folder: Path, max_pixels: int,
                full_decode: bool, boundary: Boundary | None) -> Iterator[ChunkJob]:
    """Items in chunks of CHUNK_ROWS, or fewer when the image bytes an adapter yields in
    hand (tar members, base64) reach CHUNK_BYTES: chunks in flight are held in memory."""
    chunk: list[Item] = []
    held = 0
    index = 0
    for item in items:
        chunk.append(item)
        if not isinstance(item, Rejection):
            held += sum(len(ref.data) for ref in item.get("images", ())
                        if isinstance(ref, ImageRef) and ref.data is not None)
        if len(chunk) == CHUNK_ROWS or held >= CHUNK_BYTES:
            yield ChunkJob(split, str(folder / f"chunk-{index:05d}.arrow"), chunk, max_pixels,
                           full_decode, boundary)
            chunk, held, index = [], 0, index + 1
    if chunk:
        yield ChunkJob(split, str(folder / f"chunk-{index:05d}.arrow"), chunk, max_pixels,
                       full_decode, boundary)


class _Split:
    """Outcomes of a split's chunks, taken in chunk order: counts, ids, fingerprint."""

    def __init__(self, split: str, report: IngestReport, seen_ids: dict[str, str],
                 hasher: Any, rejections: Any) -> None:
        self.split = split
        self.rep = report.splits.setdefault(split, SplitReport())
        self.reasons = report.reasons
        self.seen_ids = seen_ids
        self.hasher = hasher
        self.rejections = rejections
        self.shards: list[Path] = []

    def take(self, job: ChunkJob, outcomes: list[Outcome]) -> None:
        duplicates: list[int] = []  # rows of this chunk's shard to drop
        row = 0
        for item, outcome in zip(job.items, outcomes, strict=True):
            self.rep.read += 1
            if isinstance(outcome, Rejection):
                self.reject(outcome)
                continue
            rid, canon = outcome
            if rid in self.seen_ids:
                reason = f"duplicate id: {rid!r} (first seen in split {self.seen_ids[rid]!r})"
                self.reject(Rejection(*locate(cast(dict[str, Any], item)), reason))
                duplicates.append(row)
            else:
                self.seen_ids[rid] = self.split
                self.hasher.update(canon)
                self.rep.kept += 1
            row += 1
        shard = Path(job.shard)
        if row > len(duplicates):
            if duplicates:
                _drop_rows(shard, duplicates)
            self.shards.append(shard)
        else:  # no row of it is kept
            remove_file(shard, shard.parent, "empty shard")

    def reject(self, rejection: Rejection) -> None:
        self.rep.rejected += 1
        self.reasons[_reason_key(rejection.reason)] += 1
        line = json.dumps({"split": self.split, **asdict(rejection)}, ensure_ascii=False)
        self.rejections.write(line + "\n")

    def seal(self, folder: Path) -> list[str]:
        """Name the shards data-K-of-N.arrow in chunk order (one empty shard for no rows)."""
        if not self.shards:
            empty = folder / "chunk-empty.arrow"
            write_shard(empty, [])
            self.shards.append(empty)
        names = [f"data-{k:05d}-of-{len(self.shards):05d}.arrow" for k in range(len(self.shards))]
        for shard, shard_name in zip(self.shards, names, strict=True):
            shard.rename(folder / shard_name)
        return names


def _drop_rows(shard: Path, rows: list[int]) -> None:
    """Rewrite a shard without the given rows (ids an earlier chunk already holds)."""
    import pyarrow as pa

    with pa.memory_map(str(shard)) as source:
        table = pa.ipc.open_stream(source).read_all()
    drop = set(rows)
    kept = table.take([i for i in range(table.num_rows) if i not in drop])
    tmp = shard.with_suffix(".tmp")
    writer = ShardWriter(tmp)
    try:
        writer.write_table(kept)
    finally:
        writer.close()
    tmp.replace(shard)


def build(adapter: Adapter, root: Path | str | None = None, *, name: str | None = None,
          home: Path | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
          full_decode: bool = False, workers: int = 1,
          allow_symlinks_out: bool = False) -> IngestReport:
    """Stream every split of `adapter` at `root` into Arrow under the dataset home.

    With `workers` > 1, forked processes read and check images and write the shards while
    this process runs the adapter; the dataset and its fingerprint are the same either way.
    Every file read must lie inside `root` once resolved, unless `allow_symlinks_out`.
    """
    started = time.perf_counter()
    name = check_name(name if name is not None else adapter.name, "dataset name")
    root_path = Path(root) if root is not None else None
    # Generated corpora (shapes, openmoji) ignore the root they are given.
    corpus_root = (require_root(root_path, adapter.name) if adapter.needs_root
                   else root_path or Path("."))
    base = home or datasets_dir()
    base.mkdir(parents=True, exist_ok=True)
    sweep_staging(base)  # staging folders of builds that were killed; never a live build's
    final = inside(base / name, base, "dataset folder")
    staging = inside(base / f".{name}.building-{os.getpid()}", base, "staging folder")
    remove_tree(staging, base, "staging folder")
    make_dir(staging, base, "staging folder")
    workers = usable_workers(workers)
    hasher = hashlib.sha256(f"mmbench-schema-{SCHEMA_VERSION}".encode())
    seen_ids: dict[str, str] = {}
    report = IngestReport(name=name, path=str(final), fingerprint="")
    boundary = Boundary.of(corpus_root, allow_symlinks_out) if adapter.needs_root else None
    bounded = activate(boundary)  # what the adapter opens is checked against it
    try:
        corpus = adapter.info(corpus_root)
        splits = adapter.splits(corpus_root)
        for split in splits:  # each becomes a folder under the dataset
            if not isinstance(split, str) or not is_plain_name(split):
                raise AdapterError(f"{adapter.name}: split {split!r} is not a plain name "
                                   f"(letters, digits, '_', '-'); rename its file or folder")
        sizes: dict[str, int] = {}
        shards: dict[str, list[str]] = {}
        # backslashreplace: a lone surrogate in a name is written as its JSON escape
        with (staging / "rejections.jsonl").open("w", encoding="utf-8",
                                                 errors="backslashreplace") as rejections, \
                fewer_collections(), worker_pool(workers) as pool:
            for split in splits:
                hasher.update(f"split:{split}".encode())
                folder = staging / split
                folder.mkdir()
                tally = _Split(split, report, seen_ids, hasher, rejections)
                jobs = _chunk_jobs(adapter.examples(corpus_root, split), split, folder,
                                   max_pixels, full_decode, boundary)
                for job, outcomes in run_chunks(jobs, pool, workers):
                    tally.take(job, outcomes)
                shards[split] = tally.seal(folder)
                sizes[split] = tally.rep.kept
        if corpus.extra.get("templates"):  # they change zero-shot scores: a new build
            hasher.update(("templates:" + json.dumps(corpus.extra["templates"])).encode())
        report.fingerprint = hasher.hexdigest()
        info = DatasetInfo(
            name=name, adapter=adapter.name, adapter_version=adapter.version,
            schema_version=SCHEMA_VERSION, fingerprint=report.fingerprint, splits=sizes,
            class_names=corpus.class_names, tasks=list(corpus.tasks), options=adapter.options(),
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), path=str(final), extra=corpus.extra,
        )
        payload = {**asdict(info), "shards": shards,
                   "corpus_root": None if boundary is None else {
                       "path": boundary.root, "allow_symlinks_out": allow_symlinks_out},
                   "ingest": {"read": report.read, "kept": report.kept,
                              "rejected": report.rejected}}
        (staging / "info.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False),
                                           encoding="utf-8", errors="backslashreplace")
        # Two builds of one name may finish together: one swap at a time, the last one wins.
        with hold(base / f".{name}.replace.lock", base):
            remove_tree(final, base, "dataset folder")
            staging.rename(inside(final, base, "dataset folder"))
    finally:
        deactivate(bounded)
        remove_tree(staging, base, "staging folder")
    if home is None and home_url() is not None:  # the home is remote: the build goes there
        publish(name)
    report.seconds = time.perf_counter() - started
    return report


def dataset_path(name: str, home: Path | None = None) -> Path:
    return (home or datasets_dir()) / check_name(name, "dataset name")


def info(name: str, home: Path | None = None) -> DatasetInfo:
    path = dataset_path(name, home) / "info.json"
    if not path.is_file() and home is None:
        pull(name)  # a remote home's dataset this machine has not read yet
    if not path.is_file():
        raise DatasetNotFound(f"dataset {name!r} is not in {path.parent.parent}; "
                              f"build it with `mmbench ingest`")
    raw = json.loads(path.read_text())
    fields = DatasetInfo.__dataclass_fields__
    return DatasetInfo(**{k: v for k, v in raw.items() if k in fields})


def exists(name: str, home: Path | None = None) -> bool:
    """Whether the dataset is in the home; from a remote home, one this machine has not
    read yet is pulled into its mirror to answer (the next reads need it anyway)."""
    found = (dataset_path(name, home) / "info.json").is_file()
    return found or (home is None and pull(name))


def load(name: str, home: Path | None = None) -> dict[str, Split]:
    """The dataset's splits by name, each a `mmbench.split.Split` over its memory-mapped
    shards (pyarrow alone; `Split.to_datasets()` gives a `datasets.Dataset`)."""
    fingerprint = info(name, home).fingerprint
    return {split: Split.from_files(files, fingerprint=f"{fingerprint}:{split}")
            for split, files in split_files(name, home).items()}


def split_files(name: str, home: Path | None = None) -> dict[str, list[Path]]:
    """The Arrow shard files of each split, in row order."""
    meta = info(name, home)
    base = dataset_path(name, home)
    return {split: sorted((base / split).glob("*.arrow")) for split in meta.splits}


def list_datasets(home: Path | None = None) -> list[DatasetInfo]:
    base = home or datasets_dir()
    names = set(remote_names()) if home is None else set()
    if base.is_dir():
        names |= {p.name for p in base.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / "info.json").is_file()}
    return [info(name, home) for name in sorted(names)]


def disk_size(name: str, home: Path | None = None) -> int:
    base = dataset_path(name, home)
    return sum(f.stat().st_size for f in base.rglob("*") if f.is_file())
