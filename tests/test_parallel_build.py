"""The chunked build: the same dataset, fingerprint and rejections whatever the chunk size
and however many worker processes check images, with ids deduplicated across chunks."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from mmbench import data
from mmbench.adapters.base import Adapter, ImageRef, Item, Rejection
from mmbench.chunk_pool import usable_workers
from mmbench.schema import make_record
from tests.fakes._images import image_bytes

# (split, id, image file) per item; None as the id stands for an adapter-side rejection.
ITEMS: list[tuple[str, str | None, str]] = [
    ("train", "x", "missing.png"),  # bad image: rejected, so its id stays free
    ("train", "a", "0.png"),
    ("train", "b", "1.png"),
    ("train", "c", "2.png"),
    ("train", "x", "3.png"),  # kept: the first "x" never made it in
    ("train", "a", "4.png"),  # duplicate of a row in an earlier chunk
    ("train", None, ""),  # the adapter's own rejection passes through
    ("train", "d", "cut.png"),  # truncated PNG
    ("train", "a", "5.png"),  # another duplicate (with one row per chunk, a chunk of its own)
    ("train", "e", "6.png"),
    ("test", "b", "7.png"),  # duplicate across splits
    ("test", "f", "8.png"),
    ("empty", "g", "missing.png"),  # a split with no row kept
]
KEPT = {"train": ["a", "b", "c", "x", "e"], "test": ["f"], "empty": []}


@dataclass
class ListedAdapter(Adapter):
    name: ClassVar[str] = "listed"
    in_hand: bool = False  # yield the bytes of files that exist, as a tar adapter would

    def splits(self, root: Path) -> list[str]:
        return list(dict.fromkeys(split for split, _, _ in ITEMS))

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        for line, (item_split, rid, file) in enumerate(ITEMS):
            if item_split != split:
                continue
            if rid is None:
                yield Rejection("list.txt", f"line {line}", "adapter says no")
                continue
            path = root / file
            ref = (ImageRef(name=file, data=path.read_bytes()) if self.in_hand and path.is_file()
                   else ImageRef(name=file, path=str(path)))
            yield make_record(id=rid, images=[ref],
                              captions=[f"row {line}"],
                              source={"dataset": "listed", "file": "list.txt",
                                      "locator": f"line {line}"})


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for i in range(9):
        (root / f"{i}.png").write_bytes(image_bytes(i))
    (root / "cut.png").write_bytes(image_bytes(99)[:-20])
    return root


def _build(root: Path, home: Path, monkeypatch: pytest.MonkeyPatch, chunk_rows: int,
           workers: int, chunk_bytes: int = 1 << 30, in_hand: bool = False
           ) -> tuple[data.IngestReport, dict[str, Any], list[str]]:
    monkeypatch.setattr(data, "CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(data, "CHUNK_BYTES", chunk_bytes)
    report = data.build(ListedAdapter(in_hand=in_hand), root, home=home, workers=workers)
    rows = {split: ds.to_list() for split, ds in data.load("listed", home).items()}
    rejections = (home / "listed" / "rejections.jsonl").read_text().splitlines()
    return report, rows, rejections


def test_one_chunk_serial_build_keeps_and_rejects_the_right_rows(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report, rows, rejections = _build(corpus, tmp_path / "home", monkeypatch, 1000, 1)
    assert {split: [r["id"] for r in split_rows] for split, split_rows in rows.items()} == KEPT
    assert (report.read, report.kept, report.rejected) == (13, 6, 7)
    reasons = [json.loads(line)["reason"] for line in rejections]
    assert reasons[0].startswith("missing image file: missing.png")
    assert reasons[1] == "duplicate id: 'a' (first seen in split 'train')"
    assert reasons[2] == "adapter says no"
    assert reasons[3].startswith("truncated PNG")
    assert reasons[4] == "duplicate id: 'a' (first seen in split 'train')"
    assert reasons[5] == "duplicate id: 'b' (first seen in split 'train')"
    assert reasons[6].startswith("missing image file")
    assert json.loads(rejections[1])["locator"] == "line 5"


@pytest.mark.parametrize(("chunk_rows", "workers"), [(4, 1), (4, 2), (1, 2), (3, 3)])
def test_chunking_and_workers_change_nothing_in_the_dataset(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_rows: int,
        workers: int) -> None:
    reference = _build(corpus, tmp_path / "one", monkeypatch, 1000, 1)
    report, rows, rejections = _build(corpus, tmp_path / "many", monkeypatch, chunk_rows, workers)
    assert report.fingerprint == reference[0].fingerprint
    assert (report.read, report.kept, report.rejected) == (13, 6, 7)
    assert rows == reference[1]
    assert rejections == reference[2]


def test_workers_check_the_corpus_root_as_the_building_process_does(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "elsewhere.png").write_bytes(image_bytes(50))
    (corpus / "4.png").unlink()  # a duplicate "a": now rejected before it is read
    (corpus / "4.png").symlink_to(tmp_path / "elsewhere.png")
    (corpus / "6.png").rename(corpus / "real-6.png")
    (corpus / "6.png").symlink_to("real-6.png")  # stays inside: "e" is read through it
    reference = _build(corpus, tmp_path / "one", monkeypatch, 1000, 1)
    report, rows, rejections = _build(corpus, tmp_path / "many", monkeypatch, 3, 2)
    assert (report.fingerprint, rows, rejections) == (reference[0].fingerprint, *reference[1:])
    assert (report.read, report.kept, report.rejected) == (13, 6, 7)
    reasons = {json.loads(line)["locator"]: json.loads(line)["reason"] for line in rejections}
    assert reasons["line 5"].startswith("image leads outside the corpus root: ")


def test_bytes_in_hand_cut_chunks_short(corpus: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    reference = _build(corpus, tmp_path / "one", monkeypatch, 1000, 1)
    # a byte budget smaller than any image: each item with bytes in hand closes its chunk
    report, rows, rejections = _build(corpus, tmp_path / "many", monkeypatch, 1000, 2,
                                      chunk_bytes=1, in_hand=True)
    assert report.fingerprint == reference[0].fingerprint
    assert (rows, rejections) == (reference[1], reference[2])
    shards = data.split_files("listed", tmp_path / "many")
    assert len(shards["train"]) == 5  # a, b, c, x, e: one kept row per chunk


def test_shards_are_named_in_row_order_and_an_empty_split_has_one(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    _build(corpus, home, monkeypatch, 1, 2)
    files = {split: [p.name for p in paths]
             for split, paths in data.split_files("listed", home).items()}
    # One row per chunk: a chunk whose row is rejected, or is a duplicate, leaves no shard.
    assert files["train"] == [f"data-0000{k}-of-00005.arrow" for k in range(5)]
    assert files["test"] == ["data-00000-of-00001.arrow"]
    assert files["empty"] == ["data-00000-of-00001.arrow"]
    assert not list((home / "listed").rglob("chunk-*"))
    assert data.load("listed", home)["empty"].num_rows == 0
    info = json.loads((home / "listed" / "info.json").read_text())
    assert info["shards"]["train"] == files["train"]


def test_a_daemonic_process_builds_without_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert usable_workers(4) == 4
    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True)
    assert usable_workers(4) == 1


def test_a_build_leaves_the_garbage_collector_as_it_found_it(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    _build(corpus, tmp_path / "home", monkeypatch, 4, 2)
    assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == frozen


def test_a_row_arrow_refuses_is_rejected_not_fatal(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation should stop such rows first; if one gets through, only it is lost."""
    from mmbench import ingest_chunk

    write_rows = ingest_chunk.ShardWriter.write_rows

    def refuse_b(self: Any, rows: list[dict[str, Any]]) -> None:
        if any(row["id"] in ("b", "f") for row in rows):
            raise ValueError("cannot convert")
        write_rows(self, rows)

    monkeypatch.setattr(ingest_chunk.ShardWriter, "write_rows", refuse_b)
    report, rows, rejections = _build(corpus, tmp_path / "home", monkeypatch, 4, 1)
    assert [r["id"] for r in rows["train"]] == ["a", "c", "x", "e"]
    assert rows["test"] == []  # its only kept row was refused: no shard left behind
    assert (report.read, report.kept, report.rejected) == (13, 4, 9)
    reasons = [json.loads(line)["reason"] for line in rejections]
    assert "record 'b' cannot be stored in Arrow: cannot convert" in reasons
    assert [p.name for p in data.split_files("listed", tmp_path / "home")["test"]] == [
        "data-00000-of-00001.arrow"]


def die_on_the_second_chunk(job: Any) -> Any:
    """Stands in for run_chunk in a worker: the process ends as a crash in C code would."""
    import os

    from mmbench.ingest_chunk import run_chunk

    if job.shard.endswith("chunk-00001.arrow"):
        os._exit(1)
    return run_chunk(job)


def test_a_worker_that_dies_is_reported_with_its_chunk(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmbench import chunk_pool

    monkeypatch.setattr(chunk_pool, "run_chunk", die_on_the_second_chunk)
    with pytest.raises(chunk_pool.WorkerDied,
                       match=r"split 'train' from list.txt line 4 to list.txt line 7"):
        _build(corpus, tmp_path / "home", monkeypatch, 4, 2)
    assert not list((tmp_path / "home").iterdir())  # the staging folder is gone
