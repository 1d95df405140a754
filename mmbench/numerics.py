"""Which numeric paths a run takes, and a portable mode that pins them.

The same seeded job gives different weights on different x86-64 CPUs because three
libraries pick their kernels by the CPU's instruction set: ATen (torch's own kernels),
MKL (matrix products) and oneDNN (convolutions). Measured on one AMD EPYC (AVX2): concat
fusion on `shapes`, seed 0, scored 0.869 with the kernels picked freely, 0.698 with only
ATen pinned to its default kernels, 0.889 with all three pinned. Portable mode pins all
three to paths every x86-64 CPU has, so a job gives bit-identical metrics anywhere:

- `ATEN_CPU_CAPABILITY=default`: ATen's scalar kernels, not AVX2/AVX-512 ones;
- `MKL_CBWR=COMPATIBLE`: MKL's conditional numerical reproducibility, on its most
  portable code path;
- `ONEDNN_MAX_CPU_ISA=SSE41`: oneDNN no wider than SSE4.1.

Each is read once, when torch loads, so the mode must be set before torch is imported:
`mmbench run --portable` does that first thing; in Python, `mmbench.run(portable=True)`
sets it when torch is not loaded yet and refuses when torch was loaded without it. Forked
worker processes inherit it. It costs time (see the README), so it is an option.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

PORTABLE_ENV = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41"}
PINNED_VARIABLES = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
SIMD_LEVELS = ("avx512f", "avx2", "avx", "sse4_2", "sse4_1")  # the widest one present wins


class NumericsError(RuntimeError):
    """Portable mode asked for after torch was loaded with other numeric paths."""


def portable_in_effect() -> bool:
    """Whether this process runs with every portable setting (torch loaded or not)."""
    if any(os.environ.get(k) != v for k, v in PORTABLE_ENV.items()):
        return False
    torch = sys.modules.get("torch")
    return torch is None or torch.backends.cpu.get_cpu_capability() == "DEFAULT"


def use_portable() -> None:
    """Pin the numeric paths for this process and its forked workers. Call it before torch
    is imported; NumericsError (naming what to set) when torch already runs without them."""
    if "torch" not in sys.modules:
        os.environ.update(PORTABLE_ENV)
        return
    if not portable_in_effect():
        settings = " ".join(f"{k}={v}" for k, v in PORTABLE_ENV.items())
        raise NumericsError(f"portable mode must be set before torch is imported, and torch is "
                            f"already loaded here with other numeric paths; use `mmbench run "
                            f"--portable`, or start Python with {settings}")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def simd_level() -> str:
    """The widest vector instruction set the CPU reports (Linux), else ''."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    match = re.search(r"^flags\s*:(.*)$", text, re.M)
    flags = set(match.group(1).split()) if match else set()
    return next((level for level in SIMD_LEVELS if level in flags), "")


def _library_versions() -> dict[str, str]:
    import torch

    config = torch.__config__.show()
    found = {"mkl": r"Math Kernel Library Version ([\w.\-]+)", "onednn": r"MKL-DNN v([\w.]+)"}
    return {name: (m.group(1) if (m := re.search(pattern, config)) else "") for name, pattern in found.items()}


def numeric_paths() -> dict[str, Any]:
    """What a record says about the numeric paths its process took."""
    import torch

    return {"cpu": cpu_model(), "simd": simd_level(),
            "aten_capability": torch.backends.cpu.get_cpu_capability(),
            "portable": portable_in_effect(),
            "settings": {k: os.environ.get(k, "") for k in PINNED_VARIABLES},
            "libraries": _library_versions(),
            "mkldnn_enabled": bool(torch.backends.mkldnn.enabled)}
