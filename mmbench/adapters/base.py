"""What every adapter is: a cheap object that streams records from a raw corpus.

Adapters only yield. They yield record dicts (see `mmbench.schema`) whose images
are `ImageRef`s, and a `Rejection` for each input row they cannot use; the
builder in `mmbench.data` reads and checks images, validates and writes Arrow.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mmbench import corpus_root


@dataclass(frozen=True)
class Rejection:
    """One input row that did not make it into the dataset, and why."""

    file: str
    locator: str
    reason: str


@dataclass(frozen=True)
class ImageRef:
    """An image as published: a file to read, or bytes already in hand (tar member, base64).

    `path` may be a plain string: cheaper to build and to send to a worker process.
    """

    name: str
    path: Path | str | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class CorpusInfo:
    """What an adapter knows about the corpus before records are read."""

    class_names: list[str] | None = None
    tasks: tuple[str, ...] = ()
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


Item = dict[str, Any] | Rejection


class AdapterError(RuntimeError):
    """The corpus root as a whole cannot be read (missing folder, no annotation file)."""


@dataclass
class Adapter:
    """Base class; subclasses are dataclasses whose fields are their CLI options."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    needs_root: ClassVar[bool] = True

    def splits(self, root: Path) -> list[str]:
        raise NotImplementedError

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        raise NotImplementedError

    def info(self, root: Path) -> CorpusInfo:
        return CorpusInfo()

    def options(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# No dots: a split is a folder beside the dataset's info.json and rejections.jsonl.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Integer labels without class names are indices 0..max; past this they cannot be.
MAX_CLASS_INDEX = 100_000


def is_plain_name(name: str) -> bool:
    """A split name that is safe as one folder name: ASCII letters, digits, `_` and `-`."""
    return _PLAIN_NAME.fullmatch(name) is not None


def small_int(text: str) -> int | None:
    """The value of a plain ASCII digit string of at most 18 digits, else None (`str.isdigit`
    accepts "²", which int() refuses, and int() refuses over 4,300 digits)."""
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def is_file(path: Path) -> bool:
    """`path.is_file()`, False also for a name the system refuses (too long, NUL byte)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


class BadJson(ValueError):
    """JSON that cannot be parsed; `reason` without the position, str() with it."""

    def __init__(self, reason: str, position: str = "") -> None:
        super().__init__(reason + position)
        self.reason = reason


def parse_json(text: str | bytes) -> Any:
    """`json.loads`, every way it can fail raised as BadJson: a syntax error, a number of
    over 4,300 digits (Python's int limit), nesting deeper than the recursion limit."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise BadJson(err.msg, f": line {err.lineno} column {err.colno} (char {err.pos})"
                      ) from None
    except RecursionError:
        raise BadJson("nested too deeply") from None
    except ValueError as err:  # the int digit limit; invalid UTF-8 in bytes
        raise BadJson(str(err)) from None


def corpus_file(path: Path, what: str = "annotation file") -> Path:
    """The path to open for a file the adapter reads: checked against the build's corpus
    root (`mmbench.corpus_root`); one that leads outside it is an AdapterError naming it."""
    try:
        return corpus_root.check(path, what)
    except ValueError as err:  # OutsideCorpus, Unresolvable
        raise AdapterError(str(err)) from err


def outside_root(folder: Path, what: str = "folder") -> str | None:
    """Why `folder` may not be listed (it leads outside the corpus root), or None."""
    problem = corpus_root.outside(folder, what)
    return None if problem is None else str(problem)


def require_root(root: Path | None, adapter: str) -> Path:
    if root is None:
        raise AdapterError(f"adapter {adapter!r} needs --root PATH (the corpus folder)")
    if not root.exists():
        raise AdapterError(f"{adapter}: corpus root {root} does not exist")
    return root


def require_file(path: Path, adapter: str) -> Path:
    if not path.is_file():
        raise AdapterError(f"{adapter}: expected file {path} is missing")
    return path


def corpus_dir(root: Path) -> Path:
    """The folder a corpus lives in: `root`, or its parent when `root` is the one file."""
    return root.parent if root.is_file() else root


def display_path(root: Path, path: Path) -> str:
    """`path` as shown in rejections: relative to `root` when it is under it, else in full."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def none_found(adapter: str, folder: Path, names: tuple[str, ...], option: str) -> AdapterError:
    """The error for a corpus holding none of the usual names of a file `option` can name."""
    return AdapterError(f"{adapter}: expected file {folder / names[0]} is missing "
                        f"(also tried {', '.join(names[1:])}; or pass {option})")


def folder_holding(root: Path, folders: Iterable[str], rel: str) -> str | None:
    """The first of `folders` (relative to root) that holds the file `rel`, or None.

    How an adapter finds which of a corpus's usual image folders it was given.
    """
    return next((folder for folder in folders if is_file(root / folder / rel)), None)


def single_file(root: Path, file: str, adapter: str, candidates: Callable[[], list[Path]],
                none: str, several: str) -> Path:
    """The one annotation file of a corpus whose root may itself be that file.

    `file` (relative to the root) wins when given; otherwise `candidates()` must find
    exactly one file, and the error names `none` ("no *.tsv file") or `several`
    ("TSV files") otherwise.
    """
    if root.is_file():
        return root
    if not root.is_dir():
        raise AdapterError(f"{adapter}: corpus root {root} does not exist")
    if file:
        return require_file(root / file, adapter)
    found = candidates()
    if len(found) != 1:
        what = none if not found else f"{len(found)} {several}"
        raise AdapterError(f"{adapter}: {what} in {root}; choose one with the 'file' option")
    return found[0]


def parse_files(spec: str, adapter: str) -> dict[str, str]:
    """The `files` option, `train=a.json,val=b_dir` -> {split: path relative to the root}."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        split, sep, rel = part.partition("=")
        if not sep or not split.strip() or not rel.strip():
            raise AdapterError(f"{adapter}: files entry {part!r} is not split=path")
        out[split.strip()] = rel.strip()
    return out


def split_files(root: Path, spec: str, adapter: str) -> dict[str, Path]:
    """The `files` option resolved against the root; every file named must exist."""
    found = {s: root / rel for s, rel in parse_files(spec, adapter).items()}
    for path in found.values():
        require_file(path, adapter)
    return found


def read_json_lines(path: Path, display: str) -> Iterator[tuple[int, dict[str, Any] | Rejection]]:
    """Yield (line number, object) per non-empty line; bad lines become Rejections.

    Handles a last line without a newline, invalid UTF-8 and non-object JSON.
    """
    with corpus_file(path).open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield lineno, Rejection(display, f"line {lineno}", f"invalid UTF-8: {err}")
                continue
            try:
                obj = parse_json(text)
            except BadJson as err:
                yield lineno, Rejection(display, f"line {lineno}", f"broken JSON: {err.reason}")
                continue
            if not isinstance(obj, dict):
                yield lineno, Rejection(display, f"line {lineno}", "JSON line is not an object")
                continue
            yield lineno, obj


def json_line_items(path: Path, display: str,
                    record: Callable[[int, dict[str, Any]], Item],
                    check: Callable[[dict[str, Any]], str | None] | None = None) -> Iterator[Item]:
    """One item per non-empty line of a JSON-lines file: a Rejection for a bad line or
    a row `check` objects to (its reason, at `line N`), else `record(lineno, row)`."""
    for lineno, row in read_json_lines(path, display):
        if isinstance(row, Rejection):
            yield row
            continue
        problem = check(row) if check is not None else None
        if problem:
            yield Rejection(display, f"line {lineno}", problem)
        else:
            yield record(lineno, row)


def load_json(path: Path, adapter: str) -> Any:
    """Load a whole JSON file, raising AdapterError that names the file on failure."""
    try:
        with corpus_file(path).open("rb") as handle:
            return parse_json(handle.read())
    except FileNotFoundError as err:
        raise AdapterError(f"{adapter}: expected file {path} is missing") from err
    except BadJson as err:
        raise AdapterError(f"{adapter}: {path} is not valid JSON: {err}") from err
