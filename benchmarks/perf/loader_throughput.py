"""Loader throughput and memory: mmbench's Arrow BatchLoader vs a bare PyTorch loop.

The bare loop is what a user would write by hand: a torch Dataset over PNG files on
disk, PIL decode + resize per item, default collation. Both produce the same
[B, 3, S, S] float tensors from the same images. Reported as ratios within one run:
    throughput ratio = mmbench images/s / bare images/s      (target >= 1.0)
    memory growth    = peak RSS at the large size - peak RSS at the small size
Usage:
    python benchmarks/perf/loader_throughput.py --small 3000 --large 12000 --out bench-out/loader.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMAGE_SIZE = 32
BATCH = 64


def _prepare(n: int, workdir: Path) -> tuple[Path, Path]:
    """The shapes corpus scaled to about n train images: as Arrow and as PNG files."""
    from mmbench import data
    from mmbench.adapters.shapes import SPLIT_SIZES, ShapesAdapter

    home = workdir / f"home-{n}"
    if not data.exists("shapes", home):
        data.build(ShapesAdapter(scale=n / SPLIT_SIZES["train"]), home=home)
    folder = workdir / f"png-{n}"
    if not folder.is_dir():
        folder.mkdir()
        train = data.load("shapes", home)["train"]
        for batch in train.iter_tables(1000, ["id", "images"]):
            for rid, images in zip(batch.column("id").to_pylist(), batch.column("images").to_pylist(), strict=True):
                (folder / f"{rid}.png").write_bytes(images[0]["bytes"])
    return home, folder


def _run_mmbench(home: Path, workers: int) -> tuple[int, float]:
    from mmbench import data
    from mmbench.loader import BatchLoader

    split = data.load("shapes", home)["train"]
    started = time.perf_counter()
    count = 0
    for batch in BatchLoader(split, batch_size=BATCH, image_size=IMAGE_SIZE, shuffle=True, num_workers=workers):
        count += len(batch)
    return count, time.perf_counter() - started


def _run_bare(folder: Path, workers: int) -> tuple[int, float]:
    import numpy as np
    import torch
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset

    class Files(Dataset):  # type: ignore[type-arg]
        def __init__(self) -> None:
            self.paths = sorted(folder.glob("*.png"))

        def __len__(self) -> int:
            return len(self.paths)

        def __getitem__(self, i: int) -> torch.Tensor:
            with Image.open(self.paths[i]) as img:
                rgb = img.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
            return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).float().div_(255.0)

    started = time.perf_counter()
    count = 0
    for batch in DataLoader(Files(), batch_size=BATCH, shuffle=True, num_workers=workers):
        count += len(batch)
    return count, time.perf_counter() - started


def _child(kind: str, path: str, workers: int) -> None:
    runner = _run_mmbench if kind == "mmbench" else _run_bare
    runner(Path(path), workers)  # warm-up epoch: page cache, lazy imports
    count, seconds = runner(Path(path), workers)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"count": count, "seconds": seconds, "peak_rss_mb": peak_kb / 1024}))


def _measure(kind: str, path: Path, workers: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path), str(workers)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=3000)
    parser.add_argument("--large", type=int, default=12000)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", nargs=3)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]))
        return
    workdir = Path(os.environ.get("MMBENCH_BENCH_DIR", Path(tempfile.gettempdir()) / "mmbench-bench-loader"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = {}
    for n in (args.small, args.large):
        home, folder = _prepare(n, workdir)
        mm = _measure("mmbench", home, args.workers)
        bare = _measure("bare", folder, args.workers)
        results[n] = {"mmbench": mm, "bare": bare,
                      "ratio": (mm["count"] / mm["seconds"]) / (bare["count"] / bare["seconds"])}
        print(f"{n:>7} images  mmbench {mm['count'] / mm['seconds']:>8.0f} img/s  peak {mm['peak_rss_mb']:.0f} MB"
              f"   bare {bare['count'] / bare['seconds']:>8.0f} img/s  peak {bare['peak_rss_mb']:.0f} MB"
              f"   ratio {results[n]['ratio']:.2f}")
    growth = {k: results[args.large][k]["peak_rss_mb"] - results[args.small][k]["peak_rss_mb"]
              for k in ("mmbench", "bare")}
    print(f"peak RSS growth {args.small} -> {args.large} images: mmbench {growth['mmbench']:+.0f} MB,"
          f" bare {growth['bare']:+.0f} MB")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"results": results, "rss_growth_mb": growth}, indent=2))


if __name__ == "__main__":
    main()
