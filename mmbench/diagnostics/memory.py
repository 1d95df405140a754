"""The peak resident memory of one step, not of the whole process: a worker runs many
steps, and the process's lifetime peak (`ru_maxrss`) would give each the largest so far.
A thread samples the process's RSS while the step runs (Linux `/proc/self/statm`; where
that is missing, the lifetime peak is all there is)."""

from __future__ import annotations

import os
import resource
import sys
import threading
from pathlib import Path
from types import TracebackType

INTERVAL_S = 0.02
_STATM = Path("/proc/self/statm")


def current_rss_mb() -> float | None:
    try:
        pages = int(_STATM.read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def lifetime_peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


class StepPeak:
    """`with StepPeak() as peak: ...`, then `peak.mb`: the largest RSS seen in the block."""

    def __init__(self) -> None:
        self.mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while True:
            now = current_rss_mb()
            if now is not None:
                self.mb = max(self.mb, now)
            if self._stop.wait(INTERVAL_S):
                return

    def __enter__(self) -> StepPeak:
        if current_rss_mb() is None:
            return self
        self._thread = threading.Thread(target=self._sample, name="mmbench-step-peak", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._thread is None:
            self.mb = lifetime_peak_mb()
            return
        self._stop.set()
        self._thread.join()
        now = current_rss_mb()
        self.mb = max(self.mb, now or 0.0)
