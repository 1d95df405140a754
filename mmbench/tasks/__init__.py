"""Evaluation protocols, one per module, each registered by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmbench.registry import Registry

TASKS: Registry[Any] = Registry("task", "mmbench.tasks")

_BUILTIN = {
    "classification": "mmbench.tasks.classification:ClassificationTask",
}
for _name, _target in _BUILTIN.items():
    TASKS.register_lazy(_name, _target)


def register_task(name: str) -> Callable[[Any], Any]:
    def decorator(cls: Any) -> Any:
        cls.name = name
        TASKS.register(name, cls)
        return cls

    return decorator


__all__ = ["TASKS", "register_task"]
