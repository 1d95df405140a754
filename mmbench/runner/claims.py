"""Per-job claims: `<store>/claims/<key>.lock`, held with `flock` by the process that runs
the job, so two processes never train the same job at the same time.

The kernel drops a lock when its holder dies, so a killed process's claim expires at
once. The holder removes its claim file before letting go; a taker checks that the file
it locked is still the one at the path, since a file removed meanwhile protects nothing.
The file holds the holder's pid, host and start time, for `mmbench doctor`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from mmbench.paths import inside, make_dir, remove_file

CLAIMS = "claims"
SUFFIX = ".lock"


def claim_path(root: Path, key: str) -> Path:
    return root / CLAIMS / f"{key}{SUFFIX}"


def _lock(path: Path, base: Path, wait: bool) -> int | None:
    """An open descriptor of `path` holding its lock, or None when another process holds it."""
    base.mkdir(parents=True, exist_ok=True)
    if path.parent.resolve() != base.resolve():
        make_dir(path.parent, base, "claims folder")
    target = inside(path, base, "claim")
    while True:
        fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.fstat(fd).st_ino == os.stat(target).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # its holder removed it as we waited: lock the file now at the path


@contextlib.contextmanager
def hold(path: Path, base: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold the lock file `path` (inside `base`) for the block; yields False, holding
    nothing, when `wait` is false and another process holds it."""
    fd = _lock(path, base, wait)
    if fd is None:
        yield False
        return
    try:
        owner = {"pid": os.getpid(), "host": socket.gethostname(),
                 "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(owner).encode())
        yield True
    finally:
        remove_file(path, base, "claim")  # before unlocking: a waiter then sees it is gone
        os.close(fd)


def claim(root: Path, key: str, *, wait: bool = True) -> contextlib.AbstractContextManager[bool]:
    """The claim on job `key` of the store at `root` (see `hold`)."""
    return hold(claim_path(root, key), root, wait=wait)


def held(path: Path) -> bool:
    """Whether a live process holds the lock file `path` now."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's own lock
    return False


def owner(path: Path) -> str:
    """Who wrote the claim file `path`, for reports."""
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "unknown holder"
    if not isinstance(info, dict):
        return "unknown holder"
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}"
