"""How many rows an evaluation passes to the model at once: the run's setting (`mmbench
run --eval-batch-size`, or the suite's `eval_batch_size`), else the model's own hint (a
class attribute `eval_batch_size`), else DEFAULT_EVAL_BATCH.

It decides speed and memory, not what is measured, so it is no part of a record's key;
the record says which size ran (`model_info.eval_batch_size`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

# Chosen by measurement (benchmarks/perf/eval_batch.py, figures in RESULTS.md): on 2 cores,
# against the old fixed 256, 128 was as fast for zero-shot (0.98-1.00) and faster for
# retrieval (0.86-0.95), with 8-23% less peak memory; 64 and 32 were faster still for
# retrieval but 10-16% slower for zero-shot.
DEFAULT_EVAL_BATCH = 128

_RUN_SETTING: ContextVar[int | None] = ContextVar("mmbench_eval_batch", default=None)


def eval_batch_size(model: Any = None) -> int:
    """The batch size for evaluating `model` now."""
    chosen = _RUN_SETTING.get()
    if chosen is not None:
        return chosen
    hint = getattr(model, "eval_batch_size", None)
    if isinstance(hint, int) and not isinstance(hint, bool) and hint > 0:
        return hint
    return DEFAULT_EVAL_BATCH


@contextlib.contextmanager
def evaluating_with(batch_size: int | None) -> Iterator[None]:
    """The run's batch size (None: the model's hint or the default) for the block."""
    token = _RUN_SETTING.set(batch_size)
    try:
        yield
    finally:
        _RUN_SETTING.reset(token)
