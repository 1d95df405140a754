"""Checks on published image bytes: cheap by default, so ingest runs near raw read speed.

JPEG and PNG (nearly every corpus image) are sized from their headers in pure Python;
anything else, and anything odd about those two, goes to PIL, which gives the verdict
and the error message.
"""

from __future__ import annotations

import hashlib
import io
import warnings
import zlib
from typing import Any

# Above this many pixels an image is treated as a decompression bomb and rejected.
DEFAULT_MAX_PIXELS = 64_000_000

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# (bit depth, colour type) pairs PIL can open; others go to PIL for its message.
_PNG_MODES = frozenset({(1, 0), (2, 0), (4, 0), (8, 0), (16, 0), (8, 2), (16, 2), (1, 3),
                        (2, 3), (4, 3), (8, 3), (8, 4), (16, 4), (8, 6), (16, 6)})
# Start-of-frame markers that carry the size (C4 DHT, C8 JPG and CC DAC are not frames).
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD,
                       0xCE, 0xCF})
# Segments PIL reads before the scan: tables, restart interval, comments, APPn.
_JPEG_SEGMENTS = frozenset({0xC4, 0xCC, 0xDB, 0xDD, 0xFE, *range(0xE0, 0xF0)})
_JPEG_SOS = 0xDA
_JPEG_APP2 = 0xE2
_JPEG_DQT = 0xDB


class BadImage(ValueError):
    """The bytes are not a usable image; the message is the rejection reason."""


def _truncated(fmt: str, data: bytes) -> bool:
    # Header parsing alone accepts a cut-off file; the trailer markers catch that cheaply.
    if fmt == "JPEG":
        return b"\xff\xd9" not in data[-64:]
    if fmt == "PNG":
        return b"IEND" not in data[-32:]
    return False


def _dqt_ok(data: bytes, pos: int, end: int) -> bool:
    # PIL refuses a quantization segment whose tables overrun it.
    while pos < end:
        pos += 1 + (64 if data[pos] < 16 else 128)
    return pos <= end


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the frame header, walking segments up to the scan; None if odd."""
    n = len(data)
    pos = 2
    size: tuple[int, int] | None = None
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # standalone markers, no length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > n:
            return None
        if marker == _JPEG_SOS:
            return size
        if marker in _JPEG_SOF:
            # precision, height, width, components; PIL opens only 8-bit 1/3/4-layer frames
            layers = data[pos + 9] if length >= 8 else 0
            if size is not None or data[pos + 4] != 8 or layers not in (1, 3, 4) \
                    or length != 8 + 3 * layers:
                return None
            height = int.from_bytes(data[pos + 5:pos + 7], "big")
            width = int.from_bytes(data[pos + 7:pos + 9], "big")
            size = (width, height)
        elif (marker not in _JPEG_SEGMENTS
              # multi-picture: PIL may call it "MPO"
              or marker == _JPEG_APP2 and data[pos + 4:pos + 8] == b"MPF\x00"
              or marker == _JPEG_DQT and not _dqt_ok(data, pos + 4, end)):
            return None
        pos = end
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from IHDR, checking every chunk's CRC up to the first IDAT like PIL."""
    n = len(data)
    pos = 8
    size: tuple[int, int] | None = None
    while pos + 12 <= n:
        length = int.from_bytes(data[pos:pos + 4], "big")
        cid = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > n or not cid.isalpha():
            return None
        body = data[pos + 8:end - 4]
        if zlib.crc32(body, zlib.crc32(cid)) != int.from_bytes(data[end - 4:end], "big"):
            return None
        if size is None:
            if cid != b"IHDR" or length != 13 or (body[8], body[9]) not in _PNG_MODES \
                    or body[10] or body[11] or body[12] > 1:
                return None
            size = (int.from_bytes(body[0:4], "big"), int.from_bytes(body[4:8], "big"))
        elif cid in (b"IDAT", b"fdAT"):
            return size
        pos = end
    return None


def _header_facts(data: bytes, max_pixels: int) -> tuple[int, int, str] | None:
    """Size and format read from the header, or None when PIL must look."""
    if data[:3] == b"\xff\xd8\xff":
        size, fmt = _jpeg_size(data), "JPEG"
    elif data[:8] == _PNG_SIGNATURE:
        size, fmt = _png_size(data), "PNG"
    else:
        return None
    if size is None:
        return None
    from PIL import Image  # for its bomb threshold, which a user may have changed

    width, height = size
    pixels = width * height
    # Zero sizes and anything over either limit take PIL's path, which words those verdicts.
    if pixels <= 0 or pixels > max_pixels or pixels > (Image.MAX_IMAGE_PIXELS or pixels):
        return None
    return width, height, fmt


def _pil_facts(data: bytes, max_pixels: int, full_decode: bool) -> tuple[int, int, str]:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                fmt = img.format or "UNKNOWN"
                if width * height > max_pixels:
                    raise BadImage(f"image of {width}x{height} pixels exceeds the limit"
                                   f" of {max_pixels}")
                if full_decode:
                    img.load()
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise BadImage(f"decompression bomb: {err}") from err
    except Exception as err:  # PIL raises many types for bad bytes
        raise BadImage(f"not a readable image: {type(err).__name__}: {err}") from err
    return width, height, fmt


def inspect_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, full_decode: bool = False
                  ) -> dict[str, Any]:
    """Return {sha256, width, height, format} for encoded bytes, or raise BadImage."""
    if not data:
        raise BadImage("empty image file")
    facts = None if full_decode else _header_facts(data, max_pixels)
    width, height, fmt = facts or _pil_facts(data, max_pixels, full_decode)
    if _truncated(fmt, data):
        raise BadImage(f"truncated {fmt} data (no end marker)")
    return {"sha256": hashlib.sha256(data).hexdigest(), "width": width, "height": height,
            "format": fmt}


def decode_rgb(data: bytes, size: int) -> Any:
    """Decode bytes to an RGB PIL image resized to size x size.

    A JPEG at least twice the target size is decoded at a reduced scale (libjpeg's DCT
    scaling, PIL's draft mode: 1/2, 1/4 or 1/8, never below the target), which skips most
    of the decoding work and anti-aliases like a box filter; the resize then finishes.
    """
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        if img.format == "JPEG" and min(img.size) >= 2 * size:
            img.draft("RGB", (size, size))
        rgb = img.convert("RGB")
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return rgb
