"""Rows of an `imagefolder` metadata file (metadata.jsonl or metadata.csv), with line numbers.

Each row comes back as (locator, dict) or (locator, Rejection), so a broken line is
reported by number and the rows after it are still read.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mmbench.adapters.base import AdapterError, Rejection, corpus_file, read_json_lines

Row = tuple[str, dict[str, Any] | Rejection]


def metadata_rows(path: Path, display: str) -> Iterator[Row]:
    if path.suffix == ".jsonl":
        for lineno, obj in read_json_lines(path, display):
            yield f"line {lineno}", obj
    else:
        yield from _csv_rows(path, display)


class _Lines:
    """Decoded lines of a file; remembers which ones were not valid UTF-8."""

    def __init__(self, path: Path):
        self.path = path
        self.bad: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        with corpus_file(self.path).open("rb") as handle:
            for lineno, raw in enumerate(handle, start=1):
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError:
                    self.bad.add(lineno)
                    yield raw.decode("utf-8", "replace")


def _csv_rows(path: Path, display: str) -> Iterator[Row]:
    lines = _Lines(path)
    reader = csv.reader(iter(lines), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as err:
        raise AdapterError(f"imagefolder: {path} has a broken header line: {err}") from err
    if header is None:
        return
    if lines.bad:
        raise AdapterError(f"imagefolder: the header line of {path} is not valid UTF-8")
    header = [h.lstrip("\ufeff").strip() for h in header]  # Excel writes a BOM
    start = reader.line_num + 1
    while True:
        first, locator = start, f"line {start}"
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield locator, Rejection(display, locator,
                                     f"broken CSV: {err} (through line {reader.line_num})")
            start = reader.line_num + 1
            continue
        end, start = reader.line_num, reader.line_num + 1
        if lines.bad.intersection(range(first, end + 1)):
            yield locator, Rejection(display, locator, "invalid UTF-8")
        elif len(row) != len(header):
            if row:  # a blank line is not a row
                yield locator, Rejection(display, locator,
                                         f"has {len(row)} fields, the header has {len(header)}")
        else:
            yield locator, dict(zip(header, row, strict=True))
