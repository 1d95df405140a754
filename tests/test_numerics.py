"""Portable mode: the same job gives bit-identical records whatever kernels the CPU could
pick (forced from outside here, as another CPU would pick them); without it they differ.
Records say which numeric paths ran."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mmbench.numerics import PORTABLE_ENV, NumericsError, numeric_paths, simd_level, use_portable
from mmbench.runner.store import ResultStore

SUITE = {"name": "numerics", "seeds": 1,
         "models": [{"name": "concat-fusion", "config": {"train": {"epochs": 2, "min_epochs": 1}}}],
         "datasets": [{"name": "shapes-n", "adapter": "shapes", "options": {"scale": 0.05}}]}


def _run(tmp_path: Path, capability: str, portable: bool, home: Path) -> tuple[dict[str, Any], Any]:
    """Run the suite in a fresh process whose environment forces ATen's kernels."""
    suite = tmp_path / "numerics.yaml"
    suite.write_text(json.dumps(SUITE))
    store = tmp_path / f"store-{capability}-{portable}"
    env = {**{k: v for k, v in os.environ.items() if k not in PORTABLE_ENV},
           "ATEN_CPU_CAPABILITY": capability, "MMBENCH_HOME": str(home)}
    args = ["run", "--suite", str(suite), "--store", str(store), "--quiet", "--no-leaderboard",
            "--jobs", "1", *(["--portable"] if portable else [])]
    done = subprocess.run([sys.executable, "-m", "mmbench.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    record = ResultStore(store).records()[0]
    return record.env["numerics"] | {"metrics": record.metrics}, ResultStore(store).predictions(record.key)


@pytest.mark.skipif(simd_level() not in ("avx2", "avx512f"), reason="the CPU has no AVX2 kernels to force")
def test_portable_mode_gives_the_same_bits_whatever_kernels_the_cpu_offers(tmp_path: Path,
                                                                           isolated_home: Path) -> None:
    fast, fast_table = _run(tmp_path, "avx2", False, isolated_home)
    plain, plain_table = _run(tmp_path, "default", False, isolated_home)
    assert (fast["aten_capability"], plain["aten_capability"]) == ("AVX2", "DEFAULT")
    assert not fast["portable"] and not plain["portable"]
    assert not fast_table.equals(plain_table)  # the kernels changed the numbers
    pinned, pinned_table = _run(tmp_path, "avx2", True, isolated_home)
    pinned_plain, pinned_plain_table = _run(tmp_path, "default", True, isolated_home)
    assert pinned["portable"] and pinned["aten_capability"] == "DEFAULT"
    assert {k: pinned["settings"][k] for k in PORTABLE_ENV} == PORTABLE_ENV
    assert pinned_table.equals(pinned_plain_table)
    assert pinned["metrics"] == pinned_plain["metrics"]


def test_records_say_which_numeric_paths_ran() -> None:
    paths = numeric_paths()
    assert paths["cpu"] and paths["aten_capability"] in ("DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX")
    assert set(paths["settings"]) >= set(PORTABLE_ENV)
    assert {"mkl", "onednn"} <= set(paths["libraries"])


def test_portable_mode_is_refused_once_torch_runs_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch  # noqa: F401  (loaded, as in any process that trained something)

    for key in PORTABLE_ENV:
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(NumericsError, match="must be set before torch is imported"):
        use_portable()
