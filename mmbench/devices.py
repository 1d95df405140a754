"""Which torch device a run uses, and how a model or a batch gets there.

The device is a runtime choice, like the thread count: it is never part of a model's
config or config hash. `resolve_device` turns a `--device` value into a concrete torch
device string once per run; a model that can move offers `use_device(device)` (see
`mmbench.models.base.DeviceAware`), which the runner calls after constructing or loading
it and before fit/predict; `mmbench.train.train(..., device=...)` moves the network and
each batch. torch is imported inside functions only, so `mmbench --help` stays light.

Fork safety: the runner forks its workers. `resolve_device` counts GPUs through
`torch.cuda.device_count()`, which asks NVML and leaves CUDA uninitialised where NVML
works, so forked workers can still use the GPU; `device_info` on a CUDA device reads
its properties, which initialises CUDA, so call it in the process that runs the job.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from mmbench.loader import Batch

CHOICES = ("cpu", "cuda", "cuda:N", "auto")
_CUDA = re.compile(r"cuda(?::(\d+))?")


class DeviceError(ValueError):
    """A device that is not one of CHOICES, or one this machine does not have."""


def _cuda_count() -> int:
    import torch

    return int(torch.cuda.device_count())


def resolve_device(name: str) -> str:
    """A `--device` value (cpu, cuda, cuda:N, auto) as a torch device string; auto is "cuda"
    when a GPU is visible, else "cpu". A CUDA device that is not there is a DeviceError saying why."""
    value = str(name).strip().lower()
    if value == "cpu":
        return "cpu"  # before importing torch: a run with nothing left to do never needs it
    import torch

    if value == "auto":
        return "cuda" if _cuda_count() > 0 else "cpu"
    match = _CUDA.fullmatch(value)
    if match is None:
        raise DeviceError(f"unknown device {name!r}; choose one of {', '.join(CHOICES)}")
    if torch.version.cuda is None:
        raise DeviceError(f"device {name!r} needs CUDA, but this torch build ({torch.__version__}) "
                          "has no CUDA support; install a CUDA build of torch, or use --device cpu")
    count = _cuda_count()
    if count == 0:
        raise DeviceError(f"device {name!r}: torch has CUDA {torch.version.cuda} but sees no GPU "
                          "(no driver, or CUDA_VISIBLE_DEVICES hides them); use --device cpu or auto")
    index = match.group(1)
    if index is not None and int(index) >= count:
        raise DeviceError(f"device {name!r}: only {count} GPU(s) visible (cuda:0 to cuda:{count - 1})")
    return value


def device_info(device: str) -> dict[str, Any]:
    """What a record says about the device that ran: the device string and its type, and on
    CUDA the GPU's name, its memory and torch's CUDA version. Initialises CUDA (see above)."""
    import torch

    dev = torch.device(device)
    info: dict[str, Any] = {"device": str(device), "type": dev.type}
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        info.update({"index": index, "gpu": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                     "cuda": torch.version.cuda})
    return info


def use_device(model: Any, device: str) -> bool:
    """Put `model` on `device` if it can move (has `use_device`); False for a model that does not
    (a baseline without torch, a user model), which then runs where it always runs."""
    method = getattr(model, "use_device", None)
    if not callable(method):
        return False
    method(device)
    return True


def to_device(value: Any, device: str) -> Any:
    """A tensor (or None) on `device`; a no-op, the same tensor object, when it is there
    already. A CPU tensor bound for a GPU is pinned first and copied without blocking: the
    copy overlaps the host's work on the next batch, and nothing reads it before the
    kernels queued after it (one CUDA stream)."""
    if value is None:
        return None
    if str(device).startswith("cuda") and value.device.type == "cpu":
        return value.pin_memory().to(device, non_blocking=True)
    return value.to(device)


def batch_to(batch: Batch, device: str) -> Batch:
    """The batch with its tensors (images, labels) on `device`; ids and texts are unchanged
    (token tensors are made from the texts inside a model, which moves them itself)."""
    return dataclasses.replace(batch, images=to_device(batch.images, device),
                               labels=to_device(batch.labels, device))
