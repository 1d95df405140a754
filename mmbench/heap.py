"""The garbage collector in mmbench's own processes: what torch brings in is frozen.

Importing torch leaves about 175,000 objects that live as long as the process. Python's
cyclic collector traces every one of them in each full collection, and again while the
interpreter shuts down: 0.35-0.40 s of a 2.5 s evaluation of a small fusion classifier was
spent after the run had finished, in that shutdown. `gc.freeze()` moves every object alive
at that moment out of the collector's sight for good. Objects made later are collected as
before; a frozen object that becomes garbage is freed by its reference count, and only a
frozen cycle waits for the process to end. Frozen once torch is in, the same evaluation's
shutdown took 0.12-0.14 s (3 runs each). What was imported before torch (mmbench's own
modules, numpy, pyarrow) is frozen first, so that the collections torch's import sets off
do not trace it either. See benchmarks/perf/RESULTS.md for the whole evaluation's figures.

Only a process that mmbench owns is frozen: the `mmbench` command's, and the workers it
forks. A library call inside someone else's Python (a notebook, a test runner, a Ray
worker) leaves their collector alone.
"""

from __future__ import annotations

import gc

_owned = False  # this process is mmbench's own (set by the command's entry point)
_frozen = False


def own_this_process() -> None:
    """Say that this process is mmbench's: `freeze_imports` may then freeze it."""
    global _owned
    _owned = True


def freeze_imports() -> None:
    """Freeze everything alive, import torch, freeze again (once per process; nothing in a
    process mmbench does not own)."""
    global _frozen
    if not _owned or _frozen:
        return
    gc.freeze()
    import torch  # noqa: F401 (the objects to freeze)

    gc.freeze()
    _frozen = True
