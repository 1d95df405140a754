"""Which float precision torch models compute in: fp32 (the default) or, through
`torch.autocast`, bf16 or fp16.

A runtime choice, like the device and the thread count: it is no part of a key, and
every record says which precision ran (`env.precision`). Under bf16/fp16 a unit's
forward passes (its fit and its evaluations, whatever the model) run inside
`torch.autocast` for the run's device type; the weights stay float32 (autocast casts
per operation), backward passes run outside it, and fp16 training on CUDA scales the
loss (`torch.amp.GradScaler`) so that small gradients do not flush to zero. Models hand
their outputs back as float32 or float64 numpy arrays in every precision.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

PRECISIONS = ("fp32", "bf16", "fp16")
_CURRENT: ContextVar[str] = ContextVar("mmbench_precision", default="fp32")


class PrecisionError(ValueError):
    """A precision that is not one of PRECISIONS."""


def check_precision(name: str) -> str:
    value = str(name).strip().lower()
    if value not in PRECISIONS:
        raise PrecisionError(f"unknown precision {name!r}; choose one of {', '.join(PRECISIONS)}")
    return value


def current() -> str:
    """The precision the unit running on this thread asked for."""
    return _CURRENT.get()


def device_type(device: str) -> str:
    return "cuda" if str(device).startswith("cuda") else "cpu"


@contextmanager
def computing_in(precision: str, device: str) -> Iterator[None]:
    """Run the block's torch forward passes in `precision` on `device` (fp32: unchanged)."""
    precision = check_precision(precision)
    token = _CURRENT.set(precision)
    try:
        if precision == "fp32":
            yield
            return
        import torch

        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        with torch.autocast(device_type=device_type(device), dtype=dtype):
            yield
    finally:
        _CURRENT.reset(token)


def outside_autocast(device: str) -> Any:
    """A context without autocast (for backward passes, which autocast should not wrap)."""
    import torch

    return torch.autocast(device_type=device_type(device), enabled=False)


def grad_scaler(device: str) -> Any:
    """A GradScaler for fp16 training on CUDA, else None (bf16 keeps fp32's exponent range)."""
    if current() != "fp16" or device_type(device) != "cuda":
        return None
    import torch

    return torch.amp.GradScaler("cuda")
