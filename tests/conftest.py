"""Shared fixtures: an isolated dataset home per test, and the real data samples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("MMBENCH_REALDATA", REPO.parent / "shared" / "realdata"))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "mmbench-home"
    monkeypatch.setenv("MMBENCH_HOME", str(home))
    return home


@pytest.fixture
def realdata() -> Path:
    """The real format samples in ../shared/realdata; skips when that folder is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real data samples not found at {REALDATA} (../shared is absent)")
    return REALDATA
