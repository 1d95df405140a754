"""Checks on published image bytes: cheap by default, so ingest runs near raw read speed."""

from __future__ import annotations

import hashlib
import io
import warnings
from typing import Any

# Above this many pixels an image is treated as a decompression bomb and rejected.
DEFAULT_MAX_PIXELS = 64_000_000


class BadImage(ValueError):
    """The bytes are not a usable image; the message is the rejection reason."""


def _truncated(fmt: str, data: bytes) -> bool:
    # Header parsing alone accepts a cut-off file; the trailer markers catch that cheaply.
    if fmt == "JPEG":
        return b"\xff\xd9" not in data[-64:]
    if fmt == "PNG":
        return b"IEND" not in data[-32:]
    return False


def inspect_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, full_decode: bool = False
                  ) -> dict[str, Any]:
    """Return {sha256, width, height, format} for encoded bytes, or raise BadImage."""
    from PIL import Image

    if not data:
        raise BadImage("empty image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                fmt = img.format or "UNKNOWN"
                if width * height > max_pixels:
                    raise BadImage(f"image of {width}x{height} pixels exceeds the limit of {max_pixels}")
                if full_decode:
                    img.load()
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise BadImage(f"decompression bomb: {err}") from err
    except Exception as err:  # PIL raises many types for bad bytes
        raise BadImage(f"not a readable image: {type(err).__name__}: {err}") from err
    if _truncated(fmt, data):
        raise BadImage(f"truncated {fmt} data (no end marker)")
    return {"sha256": hashlib.sha256(data).hexdigest(), "width": width, "height": height,
            "format": fmt}


def decode_rgb(data: bytes, size: int) -> Any:
    """Decode bytes to an RGB PIL image resized to size x size."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return rgb
