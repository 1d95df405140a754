"""What mmbench adds to evaluating a trained fusion classifier: `mmbench run` scoring a fitted
concat fusion on the OpenMoji test split, against a bare loop doing the same forward passes.

The model is fitted once (one epoch; accuracy is not the point) into a scratch store; each
timed run gets a fresh store holding only a copy of that fit's artifact, so `mmbench run`
loads it and evaluates (no fit), and the bare loop loads the same artifact. The bare loop is
what a user would write around the model: the Arrow shards read with pyarrow, the PNGs
decoded and resized with PIL exactly as mmbench's loader does, the model's own tokenisation
and network (its safetensors weights), batches of 128, argmax accuracy. Both print the same
accuracy (checked). Each run is a fresh process; wall time and peak process-tree PSS as in
`evaluate_overhead.py`, and so is the second bare loop with mmbench's collector freeze;
interleaved repeats, medians, ratios mmbench / bare.

    python benchmarks/perf/fusion_overhead.py                       # full: every emoji
    python benchmarks/perf/fusion_overhead.py --images 150 --repeat 1   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_overhead import (  # noqa: E402 (a sibling script)
    BATCH,
    FREEZE_FLAG,
    bare_commands,
    byte_compile_mmbench,
    describe,
    freeze_like_mmbench,
    measured,
    ratios,
)

MODEL = "concat-fusion"


def bare(artifact: str, home: str, threads: int) -> dict[str, Any]:
    import io

    import numpy as np
    import pyarrow as pa
    import torch
    from PIL import Image

    from mmbench.models import create  # the model's own network and tokenisation, nothing of the harness

    torch.set_num_threads(threads)
    model = create(MODEL)
    model.load(Path(artifact))
    shards = sorted((Path(home) / "datasets" / "openmoji" / "test").glob("*.arrow"))
    table = pa.concat_tables([pa.ipc.open_stream(pa.memory_map(str(s))).read_all() for s in shards])
    rows = table.select(["images", "label", "text"]).to_pylist()
    size = model.image_size
    right = 0
    for start in range(0, len(rows), BATCH):
        chunk = rows[start:start + BATCH]
        pixels = []
        for row in chunk:
            with Image.open(io.BytesIO(row["images"][0]["bytes"])) as img:
                rgb = img.convert("RGB")
            if rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
            pixels.append(np.asarray(rgb))
        images = torch.from_numpy(np.stack(pixels).transpose(0, 3, 1, 2).astype(np.float32) / 255)
        tokens, lengths = model.text_inputs([row["text"] or "" for row in chunk])
        with torch.no_grad():
            predicted = model.network(images, tokens, lengths).argmax(dim=1)
        right += int((predicted == torch.tensor([row["label"] for row in chunk])).sum())
    return {"n": len(rows), "accuracy": round(right / len(rows), 4)}


def _artifact_folder(store: Path) -> Path:
    found = sorted(p.parent for p in (store / "artifacts").rglob("model.safetensors"))
    if len(found) != 1:
        raise RuntimeError(f"expected one fitted artifact under {store / 'artifacts'}, found {len(found)}")
    return found[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=0, help="emoji to build from (0: all)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="the bare loop's torch threads (default: the cores this process may use, "
                             "which mmbench's default options give a lone job too)")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "mmbench-bench-fusion"))
    parser.add_argument("--bare", nargs=2, metavar=("ARTIFACT", "HOME"), help=argparse.SUPPRESS)
    parser.add_argument(FREEZE_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        if args.gc_freeze:
            freeze_like_mmbench()
        print(json.dumps(bare(*args.bare, threads=args.threads)))
        return

    byte_compile_mmbench()
    work = Path(args.work)
    home = work / f"home-{args.images}"
    env = {**os.environ, "MMBENCH_HOME": str(home), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    os.environ.update(env)
    import subprocess

    from mmbench import data
    from mmbench.adapters import ADAPTERS
    from mmbench.paths import remove_tree

    options = {"limit": args.images, "size": 96}
    if not data.exists("openmoji") or data.info("openmoji").options != ADAPTERS.get("openmoji")(**options).options():
        data.build(ADAPTERS.get("openmoji")(**options), workers=os.cpu_count() or 1)
    suite = work / "suite-fusion.yaml"
    suite.write_text(json.dumps({"name": "overhead", "seeds": 1, "models": [MODEL], "diagnostics": [],
                                 "train": {"openmoji": {"epochs": 1, "min_epochs": 1}},
                                 "datasets": [{"name": "openmoji", "options": options, "tasks": ["classification"]}]}))
    fitted = work / "store-fitted"
    run = [sys.executable, "-m", "mmbench.cli", "run", "--suite", str(suite), "--no-leaderboard", "--quiet"]
    if not (fitted / "artifacts").is_dir():
        subprocess.run([*run, "--store", str(fitted)], env=env, check=True, capture_output=True)
    artifact = _artifact_folder(fitted)
    runs: dict[str, list[tuple[float, float]]] = {"mmbench": [], "bare": [], "frozen": []}
    for attempt in range(args.repeat):
        store = work / f"store-{attempt}"
        remove_tree(store, work, "benchmark store")
        shutil.copytree(fitted / "artifacts", store / "artifacts")  # the fit only: the run evaluates
        commands = {"mmbench": [*run, "--store", str(store)],
                    **bare_commands([sys.executable, __file__, "--threads", str(args.threads), "--bare", str(artifact),
                                     str(home)])}
        for name, command in commands.items():  # interleaved
            runs[name].append(measured(command, env))
    # The same forward passes: both sides' accuracy on the same records.
    record = json.loads(next((work / f"store-{args.repeat - 1}" / "records").rglob("*.json")).read_text())
    bare_score = json.loads(subprocess.run(commands["bare"], env=env, check=True, capture_output=True,
                                           text=True).stdout.strip().splitlines()[-1])
    ours = record["metrics"]["accuracy"]
    ours = ours["value"] if isinstance(ours, dict) else ours
    if record["model_info"].get("fit_loaded") is not True or abs(ours - bare_score["accuracy"]) > 1e-3:
        raise RuntimeError(f"not the same work: mmbench {ours} (fit loaded: {record['model_info'].get('fit_loaded')})"
                           f", bare {bare_score['accuracy']}")
    row = {"model": MODEL, "records": bare_score["n"], "accuracy": ours, **ratios(runs)}
    print(f"{MODEL} on {row['records']} test records (accuracy {ours:.4f} both): {describe(row)}")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
