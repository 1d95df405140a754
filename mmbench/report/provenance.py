"""What two sets of runs differ in besides the model: the numeric paths their processes
took (CPU model, SIMD level, kernels and their pins) and package versions. A difference
between two machines is reported next to the paired test, which cannot tell it from one
between models. Under portable mode on both sides the CPU no longer matters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmbench.runner.store import RunRecord

CPU_FIELDS = ("cpu", "simd", "aten_capability")  # harmless when both sides ran portable
PATH_FIELDS = ("portable", "settings", "libraries", "mkldnn_enabled")
Getter = Callable[[dict[str, Any]], Any]


def _numeric(name: str) -> Getter:
    return lambda env: (env.get("numerics") or {}).get(name)


def _package(name: str) -> Getter:
    return lambda env: (env.get("packages") or {}).get(name)


def environment_differences(a: list[RunRecord], b: list[RunRecord]) -> list[str]:
    """One phrase per field whose value differs between the two sides (empty: none)."""
    portable = all(_numeric("portable")(r.env) for r in a + b)
    getters = {name: _numeric(name) for name in PATH_FIELDS + (() if portable else CPU_FIELDS)}
    getters.update({name: _package(name) for name in sorted({p for r in a + b for p in r.env.get("packages") or {}})})
    found = []
    for name, get in getters.items():
        side_a, side_b = ({repr(get(r.env)) for r in side} for side in (a, b))
        if side_a != side_b:
            found.append(f"{name} {', '.join(sorted(side_a))} vs {', '.join(sorted(side_b))}")
    return found
