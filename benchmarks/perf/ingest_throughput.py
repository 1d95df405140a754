"""Ingest throughput: `mmbench.data.build` of a COCO-captions corpus against a raw read.

    python benchmarks/perf/ingest_throughput.py --images 20000 --out bench-out/ingest.json

Generates (once, cached under a temp folder) a COCO-format corpus of small, varied,
seeded JPEGs with five captions each, then for each corpus size measures in separate
subprocesses, each run `--repeat` times after one untimed run (median kept):

- raw: parse annotations/captions_val2017.json and read every listed image's bytes;
- ingest: `build(ADAPTERS.get("coco-captions")(), root, workers=N)` into a scratch
  dataset home, for each N in `--ingest-workers`.

Both are measured with the corpus in the page cache ("warm": the CPU-bound worst case)
and with the corpus's files evicted from it before every run ("cold": read from disk,
as a corpus is when it is ingested for real). Reports images/s, the ratio ingest/raw
throughput (target >= 0.8) and the peak RSS of the building process and of its largest
worker, at two corpus sizes so memory growth with size is visible.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ANNOTATION = "annotations/captions_val2017.json"
IMAGE_DIR = "val2017"
GENERATOR_VERSION = 1
SHAPES = [(224, 168), (168, 224), (200, 200), (240, 160), (192, 144)]
NOUNS = ["dog", "cat", "man", "woman", "bus", "train", "kite", "pizza", "clock", "horse",
         "boat", "bench", "giraffe", "child", "bicycle", "plate", "street", "table"]
VERBS = ["standing", "sitting", "walking", "lying", "parked", "flying", "waiting", "eating"]
PLACES = ["on a street", "in a field", "near the water", "in a kitchen", "on a table",
          "at the station", "under a tree", "in the snow", "next to a building"]


# --- corpus generation ---------------------------------------------------------------------

def _jpeg(seed: int, index: int, scale: int = 1) -> bytes:
    """A seeded picture: two-colour gradient, random shapes, mild noise; ~5-20 KB as JPEG
    at scale 1, COCO-like sizes (~100-250 KB) at scale 3."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng([seed, index])
    w, h = SHAPES[int(rng.integers(len(SHAPES)))]  # first draw: see _shape
    w, h = w * scale, h * scale
    c1, c2 = (tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(2))
    grad = Image.linear_gradient("L").resize((w, h)).rotate(90 * int(rng.integers(4)))
    img = Image.composite(Image.new("RGB", (w, h), c1), Image.new("RGB", (w, h), c2), grad)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 13))):
        x0, y0 = int(rng.integers(w)), int(rng.integers(h))
        x1, y1 = x0 + int(rng.integers(10, w // 2)), y0 + int(rng.integers(10, h // 2))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = int(rng.integers(4))
        if kind == 0:
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        elif kind == 1:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        elif kind == 2:
            draw.line((x0, y0, x1, y1), fill=fill, width=int(rng.integers(1, 7)))
        else:
            draw.polygon([(x0, y0), (x1, y0), (int(rng.integers(w)), y1)], fill=fill)
    noise = rng.normal(0.0, rng.uniform(2, 14), (h, w, 1))
    pixels = np.clip(np.asarray(img, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=int(rng.choice([70, 80, 85, 90])))
    return out.getvalue()


def _shape(seed: int, index: int, scale: int = 1) -> tuple[int, int]:
    import numpy as np

    w, h = SHAPES[int(np.random.default_rng([seed, index]).integers(len(SHAPES)))]
    return w * scale, h * scale


def _file_name(image_id: int) -> str:
    return f"{image_id:012d}.jpg"


def _write_chunk(args: tuple[Path, int, int, int, int]) -> int:
    folder, seed, start, stop, scale = args
    for image_id in range(start, stop):
        path = folder / _file_name(image_id)
        if not path.is_file():
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(_jpeg(seed, image_id, scale))
            tmp.rename(path)  # atomic, so an interrupted run never leaves a cut-off JPEG
    return stop - start


def ensure_images(pool: Path, count: int, seed: int, workers: int, scale: int = 1) -> None:
    """Generate images 1..count into `pool` unless already there (the cache)."""
    folder = pool / IMAGE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    chunks = [(folder, seed, s, min(s + 500, count + 1), scale)
              for s in range(1, count + 1, 500)]
    with ProcessPoolExecutor(max_workers=workers) as ex:
        list(ex.map(_write_chunk, chunks))


def _captions(seed: int, image_id: int) -> list[str]:
    import numpy as np

    rng = np.random.default_rng([seed, image_id, 1])
    pick = lambda words: words[int(rng.integers(len(words)))]  # noqa: E731
    return [f"a {pick(NOUNS)} {pick(VERBS)} {pick(PLACES)} with a {pick(NOUNS)}"
            for _ in range(5)]


def make_corpus(pool: Path, base: Path, count: int, seed: int, scale: int = 1) -> Path:
    """A corpus root of the first `count` images: its own annotation file, shared images.

    The images are hard links to the pool's files: shared (page cache too), yet inside
    the root, as a build requires of every file it reads (a folder symlink to the pool
    would lead out of the root)."""
    root = base / f"coco-{count}"
    ann = root / ANNOTATION
    images_dir = root / IMAGE_DIR
    if ann.is_file() and not images_dir.is_symlink():
        return root
    ann.parent.mkdir(parents=True, exist_ok=True)
    if images_dir.is_symlink():  # a cache from before corpus roots were a boundary
        images_dir.unlink()
    images_dir.mkdir(exist_ok=True)
    for image_id in range(1, count + 1):
        link = images_dir / _file_name(image_id)
        if not link.exists():
            os.link(pool / IMAGE_DIR / _file_name(image_id), link)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id in range(1, count + 1):
        width, height = _shape(seed, image_id, scale)
        images.append({"id": image_id, "file_name": _file_name(image_id), "license": 1,
                       "width": width, "height": height, "coco_url": "", "date_captured": ""})
        for caption in _captions(seed, image_id):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "caption": caption})
    payload = {"info": {"description": f"mmbench synthetic COCO, seed {seed}"}, "licenses": [],
               "images": images, "annotations": annotations}
    tmp = ann.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload))
    tmp.rename(ann)
    return root


# --- measurements (run in a subprocess each) -----------------------------------------------

def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def corpus_files(root: Path) -> list[Path]:
    with (root / ANNOTATION).open("rb") as handle:
        names = [image["file_name"] for image in json.load(handle)["images"]]
    return [root / ANNOTATION, *(root / IMAGE_DIR / name for name in names)]


def _advise(paths: list[Path], advice: int) -> None:
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, advice)
        finally:
            os.close(fd)


def evict(files: list[Path]) -> None:
    """Drop the files' pages from the page cache (no root needed), after flushing writes
    so that earlier runs' output does not compete with this run for the disk."""
    os.sync()
    _advise(files, os.POSIX_FADV_DONTNEED)


def raw_read(root: Path, read_ahead: bool = False) -> dict[str, Any]:
    """The annotation JSON and every listed image's bytes; with `read_ahead`, the kernel is
    asked to start reading each next 1,024 files first, as the ingest does per chunk."""
    started = time.perf_counter()
    with (root / ANNOTATION).open("rb") as handle:
        data = json.load(handle)
    paths = [root / IMAGE_DIR / image["file_name"] for image in data["images"]]
    total = 0
    for start in range(0, len(paths), 1024):
        if read_ahead:
            _advise(paths[start:start + 1024], os.POSIX_FADV_WILLNEED)
        for path in paths[start:start + 1024]:
            total += len(path.read_bytes())
    return {"seconds": time.perf_counter() - started, "images": len(data["images"]),
            "bytes": total}


def ingest(root: Path, home: Path, workers: int, unchecked: bool = False) -> dict[str, Any]:
    """A build; `unchecked`: without the corpus root check (`allow_symlinks_out`), to
    measure what the check costs."""
    from mmbench.adapters import ADAPTERS
    from mmbench.data import build

    adapter = ADAPTERS.get("coco-captions")()
    started = time.perf_counter()
    report = build(adapter, root, home=home, workers=workers, allow_symlinks_out=unchecked)
    seconds = time.perf_counter() - started
    shutil.rmtree(home, ignore_errors=True)
    return {"seconds": seconds, "images": report.kept, "rejected": report.rejected}


def worker(mode: str, root: Path, home: Path, repeat: int, workers: int, cold: bool,
           profile: Path | None) -> None:
    """Time one mode after an untimed run; print the median, with peak RSS, as one JSON line."""
    if mode.startswith("ingest"):  # the baseline is the RSS of the libraries a build imports
        import datasets.arrow_writer  # noqa: F401
        import PIL.Image  # noqa: F401

        import mmbench.data  # noqa: F401
    baseline = _peak_rss_mb()
    files = corpus_files(root)

    def run() -> dict[str, Any]:
        if cold:
            evict(files)
        if mode.startswith("ingest"):
            return ingest(root, home, workers, unchecked=mode == "ingest-unchecked")
        return raw_read(root, read_ahead=mode == "raw-read-ahead")

    first = run()  # warms the page cache (and imports); not counted
    # Peak memory of one build in a fresh process, as `mmbench ingest` runs it: later runs
    # would fork workers from a parent whose heap still holds the earlier runs' pages.
    peak = _peak_rss_mb()
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    runs = [run() for _ in range(repeat)]
    result = runs[0]
    result.update(mode=mode, workers=workers, cold=cold, first_seconds=first["seconds"],
                  baseline_rss_mb=baseline, seconds=statistics.median(r["seconds"] for r in runs),
                  all_seconds=[r["seconds"] for r in runs], peak_rss_mb=peak,
                  worker_peak_rss_mb=children)
    if profile is not None:  # a third, unmeasured run: the profiler's overhead skews timings
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(run)
        with profile.open("w") as out:
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
    print(json.dumps(result))


def measure(mode: str, root: Path, home: Path, repeat: int, workers: int, cold: bool,
            profile: Path | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", mode, "--root", str(root), "--home", str(home),
           "--repeat", str(repeat), "--ingest-workers", str(workers)]
    if cold:
        cmd.append("--cold")
    if profile is not None:
        cmd += ["--profile", str(profile)]
    # The checkout's mmbench, whether or not it is pip-installed.
    path = [str(REPO), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in path if p)}
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- driver --------------------------------------------------------------------------------

def _row(n: int, raw: dict[str, Any], ahead: dict[str, Any], ing: dict[str, Any]
         ) -> dict[str, Any]:
    mb = raw["bytes"] / 1e6
    return {
        "images": n, "image_mb": round(mb, 1), "cache": "cold" if raw["cold"] else "warm",
        "workers": ing["workers"],
        "raw_s": round(raw["seconds"], 3), "ingest_s": round(ing["seconds"], 3),
        "raw_runs_s": [round(x, 3) for x in raw["all_seconds"]],
        "ingest_runs_s": [round(x, 3) for x in ing["all_seconds"]],
        "raw_img_per_s": round(n / raw["seconds"]), "ingest_img_per_s": round(n / ing["seconds"]),
        "ratio": round(raw["seconds"] / ing["seconds"], 3),
        "raw_read_ahead_s": round(ahead["seconds"], 3),
        "ratio_vs_read_ahead": round(ahead["seconds"] / ing["seconds"], 3),
        "raw_peak_rss_mb": round(raw["peak_rss_mb"], 1),
        "ingest_baseline_rss_mb": round(ing["baseline_rss_mb"], 1),
        "ingest_peak_rss_mb": round(ing["peak_rss_mb"], 1),
        "ingest_worker_peak_rss_mb": round(ing["worker_peak_rss_mb"], 1),
        # What the build holds beyond a bare read (which holds the parsed annotations too).
        "ingest_over_raw_rss_mb": round(ing["peak_rss_mb"] - raw["peak_rss_mb"], 1),
        "kept": ing["images"], "rejected": ing["rejected"],
    }


def _print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'images':>7} {'MB':>6} {'cache':>5} {'workers':>7} {'raw s':>7} {'ahead s':>7} "
          f"{'ingest s':>8} {'raw img/s':>9} {'ingest img/s':>12} {'ratio':>6} {'/ahead':>6}  "
          f"{'RSS MB raw':>10} {'ingest base/peak/worker':>23} {'ingest-raw':>10}")
    for r in rows:
        print(f"{r['images']:>7} {r['image_mb']:>6} {r['cache']:>5} {r['workers']:>7} "
              f"{r['raw_s']:>7} {r['raw_read_ahead_s']:>7} {r['ingest_s']:>8} "
              f"{r['raw_img_per_s']:>9} {r['ingest_img_per_s']:>12} {r['ratio']:>6} "
              f"{r['ratio_vs_read_ahead']:>6}  {r['raw_peak_rss_mb']:>10} "
              f"{r['ingest_baseline_rss_mb']:>9} / {r['ingest_peak_rss_mb']:>5} / "
              f"{r['ingest_worker_peak_rss_mb']:>5} {r['ingest_over_raw_rss_mb']:>10}")
    checked = [r for r in rows if "checked_ratio" in r]
    if checked:
        print(f"\n{'images':>7} {'cache':>5} {'workers':>7} {'checked s':>9} {'unchecked s':>11} "
              f"{'checked/unchecked':>17}")
    for r in checked:
        print(f"{r['images']:>7} {r['cache']:>5} {r['workers']:>7} {r['ingest_s']:>9} "
              f"{r['unchecked_s']:>11} {r['checked_ratio']:>17}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    cache = Path(args.cache_dir or Path(tempfile.gettempdir()) / "mmbench-bench-ingest")
    # new generator or image scale, new cache
    cache = cache / (f"v{GENERATOR_VERSION}-seed{args.seed}"
                     + (f"-x{args.image_scale}" if args.image_scale != 1 else ""))
    sizes = sorted({min(args.small, args.images), args.images})
    states = {"warm": [False], "cold": [True], "both": [False, True]}[args.cache]
    started = time.perf_counter()
    ensure_images(cache / "pool", args.images, args.seed, args.workers, args.image_scale)
    print(f"corpus ready in {time.perf_counter() - started:.1f}s under {cache}", flush=True)
    rows = []
    for n in sizes:
        root = make_corpus(cache / "pool", cache, n, args.seed, args.image_scale)
        home = cache / f"home-{n}"
        for cold in states:
            raw = measure("raw", root, home, args.repeat, 1, cold, None)
            ahead = measure("raw-read-ahead", root, home, args.repeat, 1, cold, None)
            for workers in args.ingest_workers:
                profile = None
                if args.profile_dir:
                    profile = Path(args.profile_dir) / f"ingest-{n}-w{workers}-{int(cold)}.txt"
                    profile.parent.mkdir(parents=True, exist_ok=True)
                ing = measure("ingest", root, home, args.repeat, workers, cold, profile)
                rows.append(_row(n, raw, ahead, ing))
                if args.root_check_cost:
                    free = measure("ingest-unchecked", root, home, args.repeat, workers, cold, None)
                    rows[-1]["unchecked_s"] = round(free["seconds"], 3)
                    # throughput with the corpus root check / without it
                    rows[-1]["checked_ratio"] = round(free["seconds"] / ing["seconds"], 3)
                print(json.dumps(rows[-1]), flush=True)
    _print_table(rows)
    return {"benchmark": "ingest_throughput", "adapter": "coco-captions", "seed": args.seed,
            "image_scale": args.image_scale,
            "target_ratio": 0.8, "rows": rows,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform()},
            "command": " ".join([Path(sys.executable).name, *sys.argv])}


def _worker_counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000, help="largest corpus size")
    parser.add_argument("--small", type=int, default=5000, help="smaller corpus size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-scale", type=int, default=1,
                        help="multiply image sides (3: 504-672 px, COCO-like ~100-250 KB JPEGs)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed runs after one untimed run; the median is reported")
    parser.add_argument("--cache", choices=["warm", "cold", "both"], default="both",
                        help="page cache state of the corpus before each run")
    parser.add_argument("--ingest-workers", type=_worker_counts,
                        default=[1, os.cpu_count() or 1],
                        help="comma-separated worker counts to build with (default 1,CPUs)")
    parser.add_argument("--out", type=Path, default=Path("bench-out/ingest.json"))
    parser.add_argument("--cache-dir", default=None, help="generated corpus cache (temp dir)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes for generating images")
    parser.add_argument("--profile-dir", default=None,
                        help="write a cProfile summary of each ingest here")
    parser.add_argument("--root-check-cost", action="store_true",
                        help="also build without the corpus root check; report the ratio")
    parser.add_argument("--worker", choices=["raw", "raw-read-ahead", "ingest", "ingest-unchecked"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--cold", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.root, args.home, args.repeat, args.ingest_workers[0],
               args.cold, args.profile)
        return
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
