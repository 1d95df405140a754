"""What a folder tree holds, to assert that an operation changed nothing in it."""

from __future__ import annotations

import os
from pathlib import Path


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """relative path -> (kind, size, mtime_ns) of everything under `root`, links not followed."""
    found: dict[str, tuple[str, int, int]] = {}
    for here, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(here) / name
            info = path.lstat()
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            found[str(path.relative_to(root))] = (kind, info.st_size if kind != "dir" else 0,
                                                  info.st_mtime_ns)
    return found


def changes(before: dict[str, tuple[str, int, int]],
            after: dict[str, tuple[str, int, int]]) -> set[str]:
    """Paths added, removed or modified between two snapshots."""
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
