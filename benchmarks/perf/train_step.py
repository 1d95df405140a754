"""One training step of each fusion family: convolution weights channels-last (what
mmbench's TorchClassifier uses) against the default contiguous layout.

A step is forward, cross-entropy, backward and an AdamW update on a shapes-sized batch
(32 images of 32x32, 9-token questions), one torch thread. The two layouts are timed in
alternating rounds within one process, so machine noise hits both alike; the table gives
each family's median step time per layout and their ratio (target: ratio <= 1.0).
Usage:
    python benchmarks/perf/train_step.py --rounds 5 --steps 30 --out bench-out/train_step.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

FAMILIES = ("concat-fusion", "late-fusion", "film-fusion", "bilinear-fusion", "cross-attention-fusion",
            "gated-fusion", "image-only")
BATCH, IMAGE, TOKENS, VOCAB = 32, 32, 9, 30


def _setup(name: str, channels_last: bool) -> tuple[Any, Any, tuple[Any, ...]]:
    import torch

    from mmbench.models import create

    torch.manual_seed(0)
    network = create(name).build(2, VOCAB)
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(network.parameters(), lr=2e-3)
    inputs = (torch.rand(BATCH, 3, IMAGE, IMAGE), torch.randint(1, VOCAB, (BATCH, TOKENS)),
              torch.full((BATCH,), TOKENS), torch.randint(0, 2, (BATCH,)))
    return network, optimizer, inputs


def _time_steps(network: Any, optimizer: Any, inputs: tuple[Any, ...], steps: int) -> float:
    import torch.nn.functional as F

    images, tokens, lengths, labels = inputs
    started = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(network(images, tokens, lengths), labels).backward()
        optimizer.step()
    return (time.perf_counter() - started) / steps


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    print(f"{'family':24} {'contiguous ms':>14} {'channels-last ms':>17} {'ratio':>6}")
    for name in FAMILIES:
        setups = {layout: _setup(name, layout) for layout in (False, True)}
        for setup in setups.values():
            _time_steps(*setup, 5)  # warm-up: allocator, oneDNN primitive caches
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for layout, setup in setups.items():
                times[layout].append(_time_steps(*setup, args.steps))
        plain, last = (statistics.median(times[k]) * 1000 for k in (False, True))
        rows.append({"family": name, "contiguous_ms": round(plain, 2), "channels_last_ms": round(last, 2),
                     "ratio": round(last / plain, 3)})
        print(f"{name:24} {plain:14.2f} {last:17.2f} {last / plain:6.3f}", flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
