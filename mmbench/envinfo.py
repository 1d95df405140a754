"""Where a result came from: package versions, git sha, hardware."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("mmbench", "torch", "datasets", "pyarrow", "numpy", "scikit-learn", "pandas", "pillow")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_sha() -> str | None:
    repo = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return f"{sha}-dirty" if dirty else sha


def environment() -> dict[str, Any]:
    """The record's `env`: what stays fixed in a process, and the torch thread count now
    (a run sets it per job; caching it would stamp every later record with the first count)."""
    import torch

    return {**_fixed_environment(), "torch_threads": torch.get_num_threads()}


@lru_cache(maxsize=1)
def _fixed_environment() -> dict[str, Any]:
    import torch

    from mmbench.numerics import numeric_paths

    return {
        "python": platform.python_version(),
        "packages": {p: _version(p) for p in PACKAGES},
        "git_sha": git_sha(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cuda": torch.cuda.is_available(),
        "numerics": numeric_paths(),  # CPU model, SIMD level, kernels and their pins
    }
