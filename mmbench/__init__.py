"""mmbench: benchmark multimodal (image + text) models on image-text corpora.

Only names are defined here; every heavy import happens on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ingest": "mmbench.api:ingest",
    "load": "mmbench.data:load",
    "run": "mmbench.api:run",
    "write_leaderboard": "mmbench.api:write_leaderboard",
    "register_model": "mmbench.models:register_model",
    "register_adapter": "mmbench.adapters:register_adapter",
    "register_task": "mmbench.tasks:register_task",
    "SCHEMA_VERSION": "mmbench.schema:SCHEMA_VERSION",
}


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'mmbench' has no attribute {name!r}")
    import importlib

    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


__all__ = sorted(_EXPORTS)
