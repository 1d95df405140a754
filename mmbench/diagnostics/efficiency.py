"""What a fitted model costs to run: FLOPs per sample, latency per batch and per sample
(p50 and p95 after warm-up), throughput and the process's peak memory, measured on the
device the evaluation ran on, beside the accuracy it buys.

The latency probe times `predict_proba` alone (the batch is decoded once, before), on one
batch of `PROBE_BATCH` rows of the evaluation split, `WARMUP` untimed calls then
`REPEATS` timed ones. FLOPs come from the formulas of `torch.utils.flop_counter` over
one such call (matrix products and convolutions, forward only; None for a model that does
not run torch), counted by a dispatch mode of our own: torch's `FlopCounterMode` imports
`torch._dynamo` on its first operation (1.7-1.9 s here, as long as importing torch), a
cost a bare loop never pays and nothing here needs, since nothing is compiled.
Throughput is the evaluation's rows over its whole prediction time. Peak memory is the
evaluating process's high-water mark (`ru_maxrss`; on a GPU, also the largest CUDA
allocation of the probe): a bound, not the model's share.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

import numpy as np

PROBE_BATCH = 32
WARMUP = 2
REPEATS = 10
PROBE_CALLS = WARMUP + REPEATS + 1  # the FLOP count is one more call


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


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def probe(model: Any, split: Any, *, rows: int, predict_s: float, device: str = "cpu") -> dict[str, Any]:
    """The efficiency figures of `model` on `split` (whose full prediction over `rows` rows
    took `predict_s` seconds)."""
    from mmbench.loader import BatchLoader

    image_size = getattr(model, "image_size", None) if getattr(model, "uses_images", False) else None
    batch = next(iter(BatchLoader(split.select(range(min(PROBE_BATCH, len(split)))),
                                  batch_size=PROBE_BATCH, image_size=image_size)))
    cuda = device.startswith("cuda")
    if cuda:
        import torch

        torch.cuda.reset_peak_memory_stats()
    for _ in range(WARMUP):
        model.predict_proba(batch)
    times = []
    for _ in range(REPEATS):
        _sync(device)
        started = time.perf_counter()
        model.predict_proba(batch)
        _sync(device)
        times.append(time.perf_counter() - started)
    flops = _flops(model, batch)
    per_batch = np.asarray(times)
    out: dict[str, Any] = {
        "probe_batch": len(batch),
        "latency_batch_p50_ms": float(np.percentile(per_batch, 50) * 1000),
        "latency_batch_p95_ms": float(np.percentile(per_batch, 95) * 1000),
        "latency_sample_p50_ms": float(np.percentile(per_batch, 50) * 1000 / len(batch)),
        "latency_sample_p95_ms": float(np.percentile(per_batch, 95) * 1000 / len(batch)),
        "throughput_per_s": float(rows / predict_s) if predict_s > 0 else None,
        "flops_per_sample": None if flops is None else flops / len(batch),
        "peak_rss_mb": _peak_rss_mb(),
        "device": device,
    }
    if cuda:
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
