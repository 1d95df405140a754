"""`vlmevalkit-tsv`: one VLMEvalKit benchmark TSV (MMBench, SEED, MME, custom sets).

A header row names the columns: `index`, `question`, option letters `A`, `B`, ...,
`answer` (a letter for multiple choice, text for VQA), `hint`, `category`, and the
image as base64 in `image` or as a file in `image_path`. VLMEvalKit stores an image
shared by several rows once: the other rows put that row's `index` in their `image`
cell (any value of 64 characters or fewer). A cell may also hold a Python list
literal of several images. Empty cells are what pandas reads as missing values.
"""

from __future__ import annotations

import ast
import base64
import binascii
import csv
import string
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.adapters import register_adapter
from mmbench.adapters.base import (
    Adapter,
    AdapterError,
    CorpusInfo,
    ImageRef,
    Item,
    Rejection,
    corpus_dir,
    corpus_file,
    single_file,
)
from mmbench.schema import make_record

NAME = "vlmevalkit-tsv"
REFERENCE_MAX_CHARS = 64  # VLMEvalKit's own rule for "this cell names another row"
LETTERS = tuple(string.ascii_uppercase)

# first line, last line, and the cells (or why the csv reader failed on those lines)
Row = tuple[int, int, list[str] | str]


def _read_rows(path: Path) -> Iterator[Row]:
    """Yield every non-blank TSV row (header included) with the lines it spans."""
    # Base64 images are far longer than csv's default 128 KiB field limit.
    csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 2**31 - 1)))
    # surrogateescape keeps bad bytes visible so one row, not the file, is rejected.
    # utf-8-sig: a TSV saved by a spreadsheet starts with a byte order mark
    with corpus_file(path).open(encoding="utf-8-sig", errors="surrogateescape",
                                newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        start = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield start, reader.line_num, f"unparseable TSV row: {err}"
                start = reader.line_num + 1
                continue
            if cells:
                yield start, reader.line_num, cells
            start = reader.line_num + 1


def _as_list(value: str) -> list[str] | None:
    """A cell holding a Python list literal of strings, else None."""
    if not value.startswith("["):
        return None
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None  # TypeError: e.g. "[{[]: 1}]", a set or dict key that is a list
    if isinstance(parsed, list) and all(isinstance(v, str) for v in parsed):
        return parsed
    return None


def _choose_answer(answer: str, letters: list[str], choices: list[str]) -> int | str | None:
    """answer_index for a letter (or the option's own text); a str is a rejection reason."""
    if answer == "":
        return None  # unlabelled test sets publish no answer
    if answer.strip() in letters:
        return letters.index(answer.strip())
    if answer in choices:
        return choices.index(answer)
    return f"answer {answer!r} is not one of the options {', '.join(letters)}"


@register_adapter(NAME)
@dataclass
class VLMEvalKitTSVAdapter(Adapter):
    """A VLMEvalKit benchmark TSV: multiple choice (option columns) or VQA."""

    description = "VLMEvalKit benchmark TSV (base64 or path images), multiple-choice or VQA"
    version = "1"

    file: str = field(default="", metadata={
        "help": "TSV file relative to the root (default: the only *.tsv in the root)"})
    split: str = field(default="test", metadata={"help": "split name for the records"})
    image_root: str = field(default="", metadata={
        "help": "folder that image_path values are relative to (default: the root)"})
    strip_prefix: str = field(default="", metadata={
        "help": "leading part of image_path values to drop before resolving them"})

    def _tsv(self, root: Path) -> Path:
        return single_file(root, self.file, NAME, lambda: sorted(root.glob("*.tsv")),
                           none="no *.tsv file", several="TSV files")

    def _display(self, root: Path, tsv: Path) -> str:
        return tsv.name if root.is_file() else tsv.relative_to(root).as_posix()

    def _header(self, tsv: Path) -> list[str]:
        for _, _, cells in _read_rows(tsv):
            if isinstance(cells, str):
                raise AdapterError(f"{NAME}: {tsv} header: {cells}")
            missing = {"index", "question"} - set(cells)
            if missing:
                raise AdapterError(f"{NAME}: {tsv} has no column(s) {sorted(missing)}")
            return cells
        raise AdapterError(f"{NAME}: {tsv} is empty")

    def splits(self, root: Path) -> list[str]:
        self._header(self._tsv(root))
        return [self.split]

    def info(self, root: Path) -> CorpusInfo:
        header = self._header(self._tsv(root))
        has_options = any(c in LETTERS for c in header)
        return CorpusInfo(tasks=("multiple-choice",) if has_options else ("vqa",))

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        tsv = self._tsv(root)
        display = self._display(root, tsv)
        header = self._header(tsv)
        shared = self._shared_images(tsv, header)
        rows = _read_rows(tsv)
        next(rows)  # the header
        for start, end, cells in rows:
            locator = f"line {start}" if start == end else f"lines {start}-{end}"
            problem = self._row_problem(header, cells)
            if problem:
                yield Rejection(display, locator, problem)
                continue
            row = dict(zip(header, cells, strict=True))
            yield self._record(root, display, locator, row, shared)

    def _row_problem(self, header: list[str], cells: list[str] | str) -> str | None:
        if isinstance(cells, str):
            return cells
        if len(cells) != len(header):
            return f"row has {len(cells)} fields, the header has {len(header)}"
        for name, cell in zip(header, cells, strict=True):
            try:
                cell.encode("utf-8")  # escaped bad bytes cannot be encoded back
            except UnicodeEncodeError:
                return f"invalid UTF-8 in column {name!r}"
        row = dict(zip(header, cells, strict=True))
        for key in ("index", "question"):
            if not row[key].strip():
                return f"missing required field {key!r}"
        return None

    def _shared_images(self, tsv: Path, header: list[str]) -> dict[str, str]:
        """The `image` cells of rows that other rows point at by index."""
        if "image" not in header:
            return {}
        col, key = header.index("image"), header.index("index")
        # Two streaming passes: a target row may come before or after the rows naming it.
        wanted = {c[col].strip() for c in self._full_rows(tsv, header)
                  if 0 < len(c[col]) <= REFERENCE_MAX_CHARS}
        if not wanted:
            return {}
        return {c[key].strip(): c[col] for c in self._full_rows(tsv, header)
                if c[key].strip() in wanted}

    @staticmethod
    def _full_rows(tsv: Path, header: list[str]) -> Iterator[list[str]]:
        for _, _, cells in _read_rows(tsv):
            if isinstance(cells, list) and len(cells) == len(header):
                yield cells

    def _record(self, root: Path, display: str, locator: str, row: dict[str, str],
                shared: dict[str, str]) -> Item:
        index = row["index"].strip()
        images = self._images(root, display, row, shared)
        if isinstance(images, str):
            return Rejection(display, locator, images)
        letters = [c for c in LETTERS if row.get(c, "") != ""]
        choices = [row[c] for c in letters]
        answer = row.get("answer", "")
        fields: dict[str, Any] = {}
        if letters:
            chosen = _choose_answer(answer, letters, choices)
            if isinstance(chosen, str):
                return Rejection(display, locator, chosen)
            fields.update(choices=choices, answer_index=chosen)
        else:
            fields["answers"] = _as_list(answer) or ([answer] if answer else [])
        mapped = {"question", "hint", "image", *LETTERS}
        meta: dict[str, Any] = {k: v for k, v in row.items() if k not in mapped}
        meta["option_letters"] = letters
        return make_record(
            id=index,
            images=images,
            question=row["question"],
            text=row.get("hint") or None,  # context shown before the question
            source={"dataset": NAME, "file": display, "locator": locator},
            meta=meta,
            **fields,
        )

    def _images(self, root: Path, display: str, row: dict[str, str],
                shared: dict[str, str]) -> list[ImageRef] | str:
        """The row's images, or a rejection reason."""
        cell, owner = row.get("image", ""), row["index"].strip()
        if cell and len(cell) <= REFERENCE_MAX_CHARS:
            owner = cell.strip()
            cell = shared.get(owner, "")
            if len(cell) <= REFERENCE_MAX_CHARS:
                return f"image refers to index {owner!r}, which has no image of its own"
        if cell:
            return self._decode(display, owner, cell)
        paths = row.get("image_path", "")
        if not paths:
            return "row has no image (neither 'image' nor 'image_path')"
        return [self._path_ref(root, p) for p in _as_list(paths) or [paths]]

    def _decode(self, display: str, owner: str, cell: str) -> list[ImageRef] | str:
        encoded = _as_list(cell) or [cell]
        refs = []
        for k, text in enumerate(encoded):
            try:
                data = base64.b64decode("".join(text.split()), validate=True)
            except (binascii.Error, ValueError) as err:
                return f"base64 decode error in image of index {owner!r}: {err}"
            suffix = f"[{k}]" if len(encoded) > 1 else ""
            refs.append(ImageRef(name=f"{display}#index={owner}{suffix}", data=data))
        return refs

    def _path_ref(self, root: Path, published: str) -> ImageRef:
        rel = published.removeprefix(self.strip_prefix) if self.strip_prefix else published
        # Joining keeps an absolute image_root or image_path as it is.
        return ImageRef(name=published, path=corpus_dir(root) / self.image_root / rel)
