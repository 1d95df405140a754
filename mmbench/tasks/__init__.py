"""Evaluation protocols, one per module, each registered by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmbench.registry import Registry

TASKS: Registry[Any] = Registry("task", "mmbench.tasks", names_are_paths=True)

_BUILTIN = {
    "classification": "mmbench.tasks.classification:ClassificationTask",
    "visual-entailment": "mmbench.tasks.visual_entailment:VisualEntailmentTask",
    "vqa": "mmbench.tasks.vqa:VQATask",
    "multiple-choice": "mmbench.tasks.multiple_choice:MultipleChoiceTask",
    "retrieval": "mmbench.tasks.retrieval:RetrievalTask",
    "zero-shot": "mmbench.tasks.zero_shot:ZeroShotTask",
    "linear-probe": "mmbench.tasks.linear_probe:LinearProbeTask",
}


TASKS.register_builtins(_BUILTIN)


def register_task(name: str) -> Callable[[Any], Any]:
    def decorator(cls: Any) -> Any:
        cls.name = name
        TASKS.register(name, cls)
        return cls

    return decorator


__all__ = ["TASKS", "register_task"]
