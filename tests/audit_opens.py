"""Which files code opens and which folders it lists, seen through an audit hook.

An audit hook cannot be removed, so one hook is installed (on first use) and records
only inside `recording()`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

EVENTS = frozenset({"open", "os.listdir", "os.scandir"})
_log: list[tuple[str, str]] | None = None
_installed = False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if _log is None or event not in EVENTS or not args:
        return
    path = args[0]
    if isinstance(path, str | bytes | os.PathLike):  # not a descriptor
        _log.append((event, os.path.abspath(os.fsdecode(path))))


@contextmanager
def recording() -> Iterator[list[tuple[str, str]]]:
    """(event, absolute path) of every open and folder listing while inside."""
    global _log, _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    _log = log = []
    try:
        yield log
    finally:
        _log = None


def reached(log: list[tuple[str, str]], *places: Path | str) -> list[str]:
    """The entries of `log` that, resolved now, are one of `places` or lie under one."""
    real = [os.path.realpath(p) for p in places]
    hits = []
    for event, path in log:
        target = os.path.realpath(path)
        if any(target == p or target.startswith(p.rstrip(os.sep) + os.sep) for p in real):
            hits.append(f"{event} {path} -> {target}")
    return hits
