"""How many torch threads each job of a run gets when the user does not say.

Out of the box a run uses the cores it may run on (`os.sched_getaffinity`, which
honours `taskset` and container CPU sets), shared among the jobs that run side by side:
one job alone gets all of them, N jobs at once get a 1/N share each (at least one).

The thread count is a numeric path like the SIMD level: a fit's weights depend on it
(measured, concat fusion on 256 `shapes` rows, portable mode: accuracy 0.719 with one
thread, 0.730 with two), because a parallel reduction's partial sums follow the thread
count. So a portable run, whose records must be bit-identical on any machine, takes one
thread per job unless the user names a count; records say which count ran.
"""

from __future__ import annotations

import os


def available_cores() -> int:
    """The CPUs this process may run on (its affinity mask), else the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def auto_threads(side_by_side: int, *, portable: bool, cores: int | None = None) -> int:
    """Torch threads per job when `side_by_side` jobs run at once: an equal share of the
    cores (at least one); one in portable mode, where the count must not follow the machine."""
    if portable:
        return 1
    return max(1, (cores or available_cores()) // max(1, side_by_side))
