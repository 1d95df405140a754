"""Move a damaged file of a store aside, into `<store>/quarantine/<time>-<pid>/<its path>`,
so nothing is deleted and its key is free for a good record."""

from __future__ import annotations

import os
import time
from pathlib import Path

from mmbench.paths import inside, make_dir, remove_file

QUARANTINE = "quarantine"


def quarantine_folder(root: Path) -> Path:
    """This process's quarantine folder of the store at `root` (one per second and process)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return root / QUARANTINE / f"{stamp}-{os.getpid()}"


def move_aside(path: Path, root: Path, folder: Path | None = None) -> Path:
    """Move the file (or folder) `path` of the store at `root` into its quarantine folder;
    the new path.

    A file is linked, then unlinked: a crash in between leaves it in both places, never in
    neither, and link() never replaces a file already quarantined under that name. A
    folder (an artifact) is renamed, which is one atomic step.
    """
    source = inside(path, root, "damaged file")
    relative = source.relative_to(Path(root).resolve())
    base = folder or quarantine_folder(root)
    make_dir(base / relative.parent, root, "quarantine folder")
    for attempt in range(1000):
        name = relative.name if attempt == 0 else f"{relative.name}.{attempt}"
        target = inside(base / relative.parent / name, root, "quarantined file")
        if source.is_dir() and not source.is_symlink():  # an artifact: renamed whole
            if os.path.lexists(target):
                continue
            os.rename(source, target)
            return target
        try:
            os.link(source, target, follow_symlinks=False)
        except FileExistsError:
            continue
        remove_file(source, root, "damaged file")
        return target
    raise FileExistsError(f"cannot quarantine {path}: too many files of that name in {base}")
