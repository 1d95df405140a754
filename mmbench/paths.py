"""Guarded paths: every file or folder mmbench writes, moves or deletes is resolved (all
symlinks, every component) and checked to lie inside its base (the dataset home, the
result store) right where the write or delete happens, whatever checks ran before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


class OutsideHome(ValueError):
    """A path mmbench was about to write or delete lies outside the folder it belongs to."""


def inside(path: Path | str, base: Path | str, what: str = "path") -> Path:
    """`path` with its folder resolved, if it lies strictly inside `base`; else OutsideHome.

    The last component is kept as it is, so a symlink there is the thing written or
    deleted, never what it points to. `base` itself does not count as inside: nothing
    mmbench deletes or replaces is its own home.
    """
    target = Path(path)
    resolved_base = Path(base).resolve()
    final = target.parent.resolve() / target.name
    if target.name in ("", ".", "..") or final == resolved_base \
            or not final.is_relative_to(resolved_base):
        raise OutsideHome(f"refusing to touch {what} {path}: it lands at {final}, "
                          f"which is not inside {resolved_base}")
    return final


def remove_tree(path: Path | str, base: Path | str, what: str = "folder") -> None:
    """Delete `path` (a folder, a file or a symlink; missing is fine) once it is checked to
    lie inside `base`. A symlink is unlinked; what it points to is never touched."""
    final = inside(path, base, what)
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)
    else:
        remove_file(final, base, what)


def remove_file(path: Path | str, base: Path | str, what: str = "file") -> None:
    """Delete the file `path` (missing is fine) once it is checked to lie inside `base`."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(inside(path, base, what))


def make_dir(path: Path | str, base: Path | str, what: str = "folder") -> Path:
    """Create the folder `path` (and parents) once it is checked to lie inside `base`."""
    final = inside(path, base, what)
    final.mkdir(parents=True, exist_ok=True)
    return final
