"""Where datasets and results live: `MMBENCH_HOME`, default `~/.mmbench`."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("MMBENCH_HOME", Path.home() / ".mmbench")).expanduser()


def datasets_dir() -> Path:
    return home() / "datasets"


def default_store() -> Path:
    return home() / "results"
