"""JPEG decoding for the loader: PIL's draft mode (libjpeg's DCT scaling) against a full
decode, both followed by the same bilinear resize, on photo-like JPEGs.

Uses the real JPEGs of ../shared/realdata when there (COCO, Flickr, VQA and GQA samples),
else generated 640x480 ones. Reports images/s of each and the ratio, per target size,
measured interleaved in one process, and the mean absolute pixel difference.

    python benchmarks/perf/jpeg_decode.py [--sizes 32,96,224] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

REALDATA = Path(__file__).resolve().parents[3] / "shared" / "realdata"


def corpus(limit: int) -> list[bytes]:
    found = sorted(p for p in REALDATA.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))[:limit]
    if found:
        return [p.read_bytes() for p in found]
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for _ in range(limit):
        base = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
        img = Image.fromarray(base).resize((640, 480), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def full_decode(data: bytes, size: int) -> object:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)


def main() -> None:
    import numpy as np

    from mmbench.images import decode_rgb

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="32,96,224")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    blobs = corpus(args.images)
    print(f"{len(blobs)} JPEGs ({'shared/realdata' if REALDATA.is_dir() else 'generated'})")
    for size in (int(s) for s in args.sizes.split(",")):
        times: dict[str, list[float]] = {"full": [], "draft": []}
        for _ in range(args.repeat):
            for name, decode in (("full", full_decode), ("draft", decode_rgb)):
                started = time.perf_counter()
                for blob in blobs:
                    decode(blob, size)
                times[name].append(time.perf_counter() - started)
        diff = statistics.mean(float(np.abs(np.asarray(decode_rgb(b, size), dtype=float)
                                            - np.asarray(full_decode(b, size), dtype=float)).mean())
                               for b in blobs)
        full, draft = (statistics.median(times[k]) for k in ("full", "draft"))
        print(f"size {size:>4}: full {len(blobs) / full:8.0f} img/s, draft {len(blobs) / draft:8.0f} img/s, "
              f"speed-up {full / draft:5.2f}x, mean |pixel difference| {diff:5.2f} of 255")


if __name__ == "__main__":
    main()
