"""Corpus adapters, one format per module; each registers itself by name."""

from __future__ import annotations

from mmbench.registry import Registry

from .base import Adapter

ADAPTERS: Registry[type[Adapter]] = Registry("adapter", "mmbench.adapters", names_are_paths=True)

# Built-in adapters, imported only when used.
_BUILTIN = {
    "shapes": "mmbench.adapters.shapes:ShapesAdapter",
    "openmoji": "mmbench.adapters.openmoji:OpenMojiAdapter",
    "coco-captions": "mmbench.adapters.coco_captions:CocoCaptionsAdapter",
    "flickr-token": "mmbench.adapters.flickr_token:FlickrTokenAdapter",
    "karpathy": "mmbench.adapters.karpathy:KarpathyAdapter",
    "vqav2": "mmbench.adapters.vqav2:VQAv2Adapter",
    "gqa": "mmbench.adapters.gqa:GQAAdapter",
    "nlvr2": "mmbench.adapters.nlvr2:NLVR2Adapter",
    "snli-ve": "mmbench.adapters.snli_ve:SNLIVEAdapter",
    "hateful-memes": "mmbench.adapters.hateful_memes:HatefulMemesAdapter",
    "webdataset": "mmbench.adapters.webdataset:WebDatasetAdapter",
    "vlmevalkit-tsv": "mmbench.adapters.vlmevalkit_tsv:VLMEvalKitTSVAdapter",
    "llava": "mmbench.adapters.llava:LlavaAdapter",
    "imagefolder": "mmbench.adapters.imagefolder:ImageFolderAdapter",
}


ADAPTERS.register_builtins(_BUILTIN)


def register_adapter(name: str):  # type: ignore[no-untyped-def]
    """Decorator: register an Adapter subclass under `name` (sets its `name`)."""

    def decorator(cls: type[Adapter]) -> type[Adapter]:
        cls.name = name
        ADAPTERS.register(name, cls)
        return cls

    return decorator


__all__ = ["ADAPTERS", "Adapter", "register_adapter"]
