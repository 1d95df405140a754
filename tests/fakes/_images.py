"""Tiny real encoded images for fake corpora."""

from __future__ import annotations

import io

from PIL import Image


def image_bytes(seed: int = 0, size: tuple[int, int] = (8, 6), fmt: str = "PNG") -> bytes:
    """A small solid-colour image; different seeds give different bytes."""
    color = ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256)
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


def jpeg_bytes(seed: int = 0, size: tuple[int, int] = (8, 6)) -> bytes:
    return image_bytes(seed, size, "JPEG")
