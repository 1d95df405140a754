"""What every adapter is: a cheap object that streams records from a raw corpus.

Adapters only yield. They yield record dicts (see `mmbench.schema`) whose images
are `ImageRef`s, and a `Rejection` for each input row they cannot use; the
builder in `mmbench.data` reads and checks images, validates and writes Arrow.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class Rejection:
    """One input row that did not make it into the dataset, and why."""

    file: str
    locator: str
    reason: str


@dataclass(frozen=True)
class ImageRef:
    """An image as published: a file to read, or bytes already in hand (tar member, base64)."""

    name: str
    path: Path | None = None
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


def read_json_lines(path: Path, display: str) -> Iterator[tuple[int, dict[str, Any] | Rejection]]:
    """Yield (line number, object) per non-empty line; bad lines become Rejections.

    Handles a last line without a newline, invalid UTF-8 and non-object JSON.
    """
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield lineno, Rejection(display, f"line {lineno}", f"invalid UTF-8: {err}")
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as err:
                yield lineno, Rejection(display, f"line {lineno}", f"broken JSON: {err.msg}")
                continue
            if not isinstance(obj, dict):
                yield lineno, Rejection(display, f"line {lineno}", "JSON line is not an object")
                continue
            yield lineno, obj


def load_json(path: Path, adapter: str) -> Any:
    """Load a whole JSON file, raising AdapterError that names the file on failure."""
    try:
        with path.open("rb") as handle:
            return json.load(handle)
    except FileNotFoundError as err:
        raise AdapterError(f"{adapter}: expected file {path} is missing") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AdapterError(f"{adapter}: {path} is not valid JSON: {err}") from err
