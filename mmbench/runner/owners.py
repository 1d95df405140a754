"""Is the process that left a file behind still running? Temporary files and staging
folders carry their writer's pid in their name; this module says whether that writer
is alive, so a sweep removes only what dead processes left.

A pid can be reused by a later, unrelated process. The writer was running whenever it
touched its file, so a live process that started after the file's last change cannot
be its writer: that file is stale too.
"""

from __future__ import annotations

import os
from pathlib import Path

# Process start times on Linux are known to the second (boot time has no fraction), and a
# network filesystem's clock may differ from ours: this much slack keeps a real writer
# counted as alive. A pid reused sooner than that only keeps a leftover until the next sweep.
START_SLACK_S = 60.0


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, or None off Linux."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def start_time(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), where /proc tells."""
    fields, boot = _proc_stat(pid), _boot_time()
    if fields is None or boot is None or len(fields) < 20:
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def alive(pid: int, touched: float | None = None) -> bool:
    """Whether process `pid` runs and could have written a file last changed at `touched`."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    fields = _proc_stat(pid)
    if fields is not None and fields[0] in ("Z", "X"):  # exited, not yet reaped
        return False
    started = start_time(pid)
    # A process that started after the file's last change did not write it: a reused pid.
    return touched is None or started is None or started <= touched + START_SLACK_S


def owner_alive(path: Path, pid: int) -> bool:
    """Whether the process `pid` that named `path` may still be writing it."""
    try:
        touched = path.lstat().st_mtime
    except FileNotFoundError:
        return False
    return alive(pid, touched)
