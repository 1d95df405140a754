"""The header fast path of `mmbench.images` must agree with PIL wherever it answers."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from PIL import Image

from mmbench.images import BadImage, _header_facts, _pil_facts, inspect_image

LIMIT = 64_000_000


def _encode(mode: str, fmt: str, size: tuple[int, int] = (37, 23), **kwargs: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format=fmt, **kwargs)
    return out.getvalue()


_ORIENTATION = Image.Exif()
_ORIENTATION[274] = 6  # rotated: the stored size is still what the header says

SAMPLES = {
    "jpeg-rgb": _encode("RGB", "JPEG"),
    "jpeg-gray": _encode("L", "JPEG", (5, 300)),
    "jpeg-cmyk": _encode("CMYK", "JPEG"),
    "jpeg-progressive": _encode("RGB", "JPEG", progressive=True),
    "jpeg-icc-exif": _encode("RGB", "JPEG", icc_profile=b"p" * 70_000,
                             exif=_ORIENTATION.tobytes()),
    "png-rgb": _encode("RGB", "PNG"),
    "png-rgba-interlaced": _encode("RGBA", "PNG", interlace=1),
    "png-palette": _encode("P", "PNG"),
    "png-1bit": _encode("1", "PNG", (1, 1)),
    "png-16bit": _encode("I;16", "PNG"),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_header_size_matches_pil(name: str) -> None:
    data = SAMPLES[name]
    assert _header_facts(data, LIMIT) == _pil_facts(data, LIMIT, False)


def test_odd_files_go_to_pil() -> None:
    mpo = io.BytesIO()
    frame = Image.new("RGB", (8, 8))
    frame.save(mpo, "MPO", save_all=True, append_images=[frame])
    assert _header_facts(mpo.getvalue(), LIMIT) is None
    assert inspect_image(mpo.getvalue())["format"] == "MPO"
    assert _header_facts(_encode("RGB", "GIF"), LIMIT) is None
    assert inspect_image(_encode("RGB", "GIF"))["format"] == "GIF"


def test_corrupt_headers_agree_with_pil() -> None:
    # Flip a few header bytes: whenever the fast path answers, PIL must open the file
    # with the same size and format; otherwise PIL decides, as before.
    rng = random.Random(0)
    bases = [SAMPLES[k] for k in ("jpeg-rgb", "jpeg-gray", "png-rgb", "png-palette")]
    answered = 0
    for _ in range(3000):
        data = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(min(len(data), 400))] = rng.randrange(256)
        facts = _header_facts(bytes(data), LIMIT)
        if facts is None:
            continue
        answered += 1
        try:
            assert _pil_facts(bytes(data), LIMIT, False) == facts
        except BadImage as err:
            pytest.fail(f"fast path accepted bytes PIL refuses: {err}")
    assert answered > 500


def test_limits_are_left_to_pil_wording() -> None:
    data = _encode("RGB", "PNG", (64, 64))
    assert _header_facts(data, 1000) is None
    with pytest.raises(BadImage, match="exceeds the limit of 1000"):
        inspect_image(data, max_pixels=1000)


def _photo(width: int, height: int, fmt: str) -> bytes:
    import numpy as np

    yy, xx = np.mgrid[0:height, 0:width]
    pixels = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) % 256], axis=-1).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt, quality=95)
    return out.getvalue()


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_close_to_a_full_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    from PIL import JpegImagePlugin

    from mmbench.images import decode_rgb

    asked: list[tuple[int, int]] = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self: Any, mode: Any, size: Any) -> Any:
        asked.append(size)
        return original(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    big = _photo(400, 300, "JPEG")
    fast = np.asarray(decode_rgb(big, 32), dtype=np.float64)
    assert asked == [(32, 32)]
    with Image.open(io.BytesIO(big)) as img:
        full = np.asarray(img.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR), dtype=np.float64)
    assert fast.shape == full.shape == (32, 32, 3)
    assert np.abs(fast - full).mean() < 4.0  # a smooth image: the two decodes agree closely
    decode_rgb(_photo(50, 40, "JPEG"), 32)  # under twice the target: decoded in full
    decode_rgb(_photo(400, 300, "PNG"), 32)  # not a JPEG
    assert asked == [(32, 32)]
