"""The model zoo: one family per module, each registered by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mmbench.registry import Registry

MODELS: Registry[Callable[..., Any]] = Registry("model", "mmbench.models", names_are_paths=True)

_BUILTIN = {
    "majority": "mmbench.models.majority:MajorityClass",
    "image-only": "mmbench.models.unimodal:ImageOnly",
    "text-only": "mmbench.models.unimodal:TextOnly",
    "concat-fusion": "mmbench.models.concat_fusion:ConcatFusion",
    "late-fusion": "mmbench.models.late_fusion:LateFusion",
    "film-fusion": "mmbench.models.film_fusion:FiLMFusion",
    "bilinear-fusion": "mmbench.models.bilinear_fusion:BilinearFusion",
    "cross-attention-fusion": "mmbench.models.cross_attention_fusion:CrossAttentionFusion",
    "gated-fusion": "mmbench.models.gated_fusion:GatedFusion",
    "tiny-clip": "mmbench.models.tiny_clip:TinyCLIP",
    "hf-clip": "mmbench.models.hf_clip:HFCLIP",
}


MODELS.register_builtins(_BUILTIN)


def register_model(name: str) -> Callable[[Any], Any]:
    """Decorator: register a model class (a factory taking keyword config) under `name`."""

    def decorator(cls: Any) -> Any:
        MODELS.register(name, cls)
        cls.registry_name = name
        return cls

    return decorator


def create(name: str, **config: Any) -> Any:
    """Instantiate registered model `name` with explicit keyword configuration."""
    return MODELS.get(name)(**config)


__all__ = ["MODELS", "create", "register_model"]
