"""What a fitted model costs to run: FLOPs per sample, latency per batch and per sample
(p50 and p95 after warm-up), throughput and the process's peak memory, measured on the
device the evaluation ran on, beside the accuracy it buys.

Latency comes from the evaluation's own `predict_proba` calls (the model's time alone:
decoding is outside them), the first call left out as warm-up, over the calls with a full
batch; when a split has fewer than `MIN_TIMED` of them, the first batch is timed again
until there are that many. A separate probe of 13 more calls (as before) was half as much
model work again as scoring OpenMoji's 799 test rows. FLOPs come from the formulas of
`torch.utils.flop_counter` over one call on the split's first `PROBE_BATCH` rows, cut from
the evaluation's first batch rather than decoded again (matrix products and convolutions,
forward only; None for a model that does not run torch),
counted by a dispatch mode of our own: torch's `FlopCounterMode` imports `torch._dynamo`
on its first operation (1.7-1.9 s here, as long as importing torch), a cost a bare loop
never pays and nothing here needs, since nothing is compiled. Throughput is the
evaluation's rows over its whole prediction time. Peak memory is the evaluating process's
high-water mark (`ru_maxrss`; on a GPU, also the largest CUDA allocation since the
evaluation started): a bound, not the model's share.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mmbench.loader import Batch

PROBE_BATCH = 32  # rows of the call whose FLOPs are counted
WARMUP = 1  # the evaluation's first calls, left out of the latency
MIN_TIMED = 5  # latency samples at least (the first batch timed again on a small split)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _flop_mode() -> Any:
    """A dispatch mode that sums `torch.utils.flop_counter`'s formula of every operation run
    under it (total FLOPs in `.total`)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class FlopSum(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            return False  # no lazy import of torch._dynamo around __torch_dispatch__

        def __init__(self) -> None:
            super().__init__()
            self.total = 0

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.total += formula(*args, **kwargs, out_val=out)
            return out

    return FlopSum()


def _flops(model: Any, batch: Any) -> float | None:
    """Forward FLOPs of one predict_proba call on `batch` (None without torch in it)."""
    try:
        mode = _flop_mode()
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    with mode:
        model.predict_proba(batch)
    return float(mode.total) if mode.total else None


def _probe_batch(model: Any, split: Any, first: Batch | None = None) -> Batch:
    """The split's first PROBE_BATCH rows as a batch: the head of `first` (a batch of the
    split's first rows) when it holds them, else loaded."""
    from mmbench.loader import BatchLoader

    wanted = min(PROBE_BATCH, len(split))
    if first is not None and len(first) >= wanted:
        return first.head(wanted)
    image_size = getattr(model, "image_size", None) if getattr(model, "uses_images", False) else None
    return next(iter(BatchLoader(split.select(range(wanted)), batch_size=PROBE_BATCH, image_size=image_size)))


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def start(device: str) -> None:
    """Call before the evaluation whose calls `probe` reads: a GPU's peak is then its own."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()


def latencies(model: Any, split: Any, calls: list[tuple[int, float]], device: str = "cpu") -> tuple[int, list[float]]:
    """(batch rows, seconds per call) of the full-batch calls in `calls` ((rows, seconds) of
    each `predict_proba` call of an evaluation, in order), past the warm-up; topped up to
    `MIN_TIMED` by timing the split's first batch again."""
    from mmbench.loader import BatchLoader

    full = max((rows for rows, _ in calls), default=min(PROBE_BATCH, len(split)))
    times = [seconds for rows, seconds in calls[WARMUP:] if rows == full]
    if len(times) < MIN_TIMED:
        image_size = getattr(model, "image_size", None) if getattr(model, "uses_images", False) else None
        batch = next(iter(BatchLoader(split.select(range(full)), batch_size=full, image_size=image_size)))
        if not calls:
            model.predict_proba(batch)  # warm-up
        while len(times) < MIN_TIMED:
            _sync(device)
            started = time.perf_counter()
            model.predict_proba(batch)
            _sync(device)
            times.append(time.perf_counter() - started)
    return full, times


def probe(model: Any, split: Any, *, rows: int, predict_s: float, calls: list[tuple[int, float]] | None = None,
          device: str = "cpu", first: Batch | None = None) -> dict[str, Any]:
    """The efficiency figures of `model` on `split`, whose full prediction over `rows` rows
    took `predict_s` seconds in the `predict_proba` calls `calls` ((rows, seconds) each);
    `first`, the evaluation's first batch (the split's first rows), spares decoding them again."""
    full, times = latencies(model, split, list(calls or []), device)
    batch = _probe_batch(model, split, first)
    flops = _flops(model, batch)
    per_batch = np.asarray(times)
    out: dict[str, Any] = {
        "probe_batch": full,
        "timed_calls": len(times),
        "latency_batch_p50_ms": float(np.percentile(per_batch, 50) * 1000),
        "latency_batch_p95_ms": float(np.percentile(per_batch, 95) * 1000),
        "latency_sample_p50_ms": float(np.percentile(per_batch, 50) * 1000 / full),
        "latency_sample_p95_ms": float(np.percentile(per_batch, 95) * 1000 / full),
        "throughput_per_s": float(rows / predict_s) if predict_s > 0 else None,
        "flops_per_sample": None if flops is None else flops / len(batch),
        "peak_rss_mb": _peak_rss_mb(),
        "device": device,
    }
    if device.startswith("cuda"):
        import torch

        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def pareto(points: dict[str, tuple[float, float]], higher_is_better: bool = True) -> set[str]:
    """The models no other model dominates: (score, cost) pairs, where another model
    dominates when it scores at least as well at no more cost, and is better in one."""
    sign = 1.0 if higher_is_better else -1.0
    front = set()
    for name, (score, cost) in points.items():
        dominated = any(sign * s >= sign * score and c <= cost and (sign * s > sign * score or c < cost)
                        for other, (s, c) in points.items() if other != name)
        if not dominated:
            front.add(name)
    return front
