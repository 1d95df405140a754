"""The shapes corpus is generated, not read: nothing is written under the root.

The contract test builds it with `CONTRACT_OPTIONS` (1% of the default size) instead
of the defaults, which would draw 3,500 pictures.
"""

from __future__ import annotations

from pathlib import Path

from mmbench.adapters.shapes import SPLIT_SIZES

CONTRACT_OPTIONS = {"scale": 0.01}


def write_fake(root: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    return sum(max(1, round(size * CONTRACT_OPTIONS["scale"])) for size in SPLIT_SIZES.values())
