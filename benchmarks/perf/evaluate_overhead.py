"""What mmbench adds to a model's own cost: `mmbench run` with its default options (a lone
job gets every core this process may use, and the bare loop as many torch threads) scoring
a transformers CLIP, against a bare loop a user would
write with transformers and pyarrow doing the same forward passes on the same images,
prompts and captions.

Data: the real OpenMoji emoji rendered at 96 px, ingested once into a scratch home
(zero-shot over the emoji groups with mmbench's prompts, retrieval against the CLDR
names, on the test split; a linear probe on the frozen image embeddings, its C chosen on
val from mmbench's grid, then refitted on train). Models: a tiny CLIP (where harness overhead shows most) and
a ViT-S/32-size one, random weights (`eval_batch.clip_folder`). Each run is a fresh
process; wall time is the process's, peak memory that of its whole process tree (PSS,
so pages a forked worker shares with its parent count once, sampled every 20 ms from
/proc). Interleaved repeats, medians, ratios mmbench / bare.

The `mmbench` command freezes its garbage collector's view of what it holds once torch is
imported (`mmbench/heap.py`), which takes a few tenths of a second off a torch process's
shutdown here; the bare loop as a user writes it does not. So each row also runs the bare loop doing the same
(`frozen` columns): mmbench over that is its own cost alone.

    python benchmarks/perf/evaluate_overhead.py                 # full
    python benchmarks/perf/evaluate_overhead.py --images 150 --repeat 1 --sizes tiny   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_batch import clip_folder  # noqa: E402 (a sibling script)

BATCH = 128  # mmbench's default evaluation batch; the bare loop uses the same


def bare(model_dir: str, home: str, task: str, prompts_file: str, threads: int) -> dict[str, Any]:
    """The hand-written loop: pyarrow shards, transformers' own processor and model."""
    import io

    import numpy as np
    import pyarrow as pa
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from transformers import AutoTokenizer, CLIPImageProcessorPil, CLIPModel

    torch.set_num_threads(threads)
    model = CLIPModel.from_pretrained(model_dir, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    processor = CLIPImageProcessorPil.from_pretrained(model_dir, local_files_only=True)
    def split_rows(split: str) -> list[dict[str, Any]]:
        shards = sorted((Path(home) / "datasets" / "openmoji" / split).glob("*.arrow"))
        table = pa.concat_tables([pa.ipc.open_stream(pa.memory_map(str(s))).read_all() for s in shards])
        return table.select(["images", "label", "captions"]).to_pylist()

    def text_features(texts: list[str]) -> torch.Tensor:
        parts = []
        for start in range(0, len(texts), BATCH):
            tokens = tokenizer(texts[start:start + BATCH], padding=True, truncation=True, max_length=77,
                               return_tensors="pt")
            with torch.no_grad():
                pooled = model.text_model(**tokens).pooler_output
                parts.append(F.normalize(model.text_projection(pooled), dim=-1))
        return torch.cat(parts)

    def image_features(rows: list[dict[str, Any]]) -> torch.Tensor:
        parts = []
        for start in range(0, len(rows), BATCH):
            pils = [Image.open(io.BytesIO(r["images"][0]["bytes"])).convert("RGB") for r in rows[start:start + BATCH]]
            pixels = processor(images=pils, return_tensors="pt")["pixel_values"]
            with torch.no_grad():
                pooled = model.vision_model(pixel_values=pixels).pooler_output
                parts.append(F.normalize(model.visual_projection(pooled), dim=-1))
        return torch.cat(parts)

    rows = split_rows("test")
    image_emb = image_features(rows)
    if task == "linear-probe":  # mmbench's protocol: C from a grid on val, refit on train
        from sklearn.linear_model import LogisticRegression

        def probe(x: Any, y: Any, c: float) -> Any:
            return LogisticRegression(C=c, max_iter=2000, random_state=0).fit(x, y)

        fit_rows, val_rows = split_rows("train"), split_rows("val")
        x, x_val = image_features(fit_rows).numpy(), image_features(val_rows).numpy()
        y, y_val = np.array([r["label"] for r in fit_rows]), np.array([r["label"] for r in val_rows])
        grid = (0.01, 0.1, 1.0, 10.0, 100.0)
        accuracy = {c: float((probe(x, y, c).predict(x_val) == y_val).mean()) for c in grid}
        best = max(grid, key=lambda c: (accuracy[c], -c))
        labels = np.array([r["label"] for r in rows])
        score = float((probe(x, y, best).predict(image_emb.numpy()) == labels).mean())
    elif task == "zero-shot":
        per_class = json.loads(Path(prompts_file).read_text())
        classes = torch.stack([F.normalize(text_features(p).mean(dim=0), dim=-1) for p in per_class])
        labels = torch.tensor([r["label"] for r in rows])
        score = float(((image_emb @ classes.T).argmax(dim=1) == labels).float().mean())
    else:
        captions = [c for r in rows for c in r["captions"]]
        owner = torch.tensor([i for i, r in enumerate(rows) for _ in r["captions"]])
        sim = image_emb @ text_features(captions).T
        top = sim.topk(5, dim=1).indices
        score = float((owner[top] == torch.arange(len(rows))[:, None]).any(dim=1).float().mean())
    return {"n": len(rows), "score": float(np.round(score, 4))}


def tree_pss_kb(pid: int) -> int:
    """Proportional set size of `pid` and all its descendants now, from /proc: pages a
    forked worker shares with its parent count once, not once per process as RSS would."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            total += next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


def byte_compile_mmbench() -> None:
    """Compile mmbench's modules to bytecode once, as `pip install` does for any package. An
    editable install never gets them where PYTHONDONTWRITEBYTECODE is set (this machine sets
    it), and then every process compiles mmbench's source again: about 65 ms per run that
    no installed copy pays (CLIP_benchmark's and torch's own modules are compiled)."""
    import compileall

    import mmbench

    compileall.compile_dir(str(Path(mmbench.__file__).parent), quiet=1)


FREEZE_FLAG = "--gc-freeze"  # the bare loop freezes its collector as the mmbench command does


def freeze_like_mmbench() -> None:
    """The mmbench command's collector freeze (`mmbench.heap`), in a bare loop's process."""
    from mmbench import heap

    heap.own_this_process()
    heap.freeze_imports()


def bare_commands(command: list[str]) -> dict[str, list[str]]:
    """The bare loop as a user writes it, and the same loop with mmbench's collector freeze."""
    return {"bare": command, "frozen": [*command[:2], FREEZE_FLAG, *command[2:]]}


def ratios(runs: dict[str, list[tuple[float, float]]]) -> dict[str, float]:
    """Medians of mmbench's and both bare loops' wall and peak, and mmbench's ratios over each."""
    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    peak = {k: statistics.median(p for _, p in v) for k, v in runs.items()}
    return {"mmbench_s": round(wall["mmbench"], 2), "bare_s": round(wall["bare"], 2),
            "frozen_s": round(wall["frozen"], 2), "wall_ratio": round(wall["mmbench"] / wall["bare"], 3),
            "frozen_wall_ratio": round(wall["mmbench"] / wall["frozen"], 3),
            "mmbench_mb": round(peak["mmbench"], 1), "bare_mb": round(peak["bare"], 1),
            "frozen_mb": round(peak["frozen"], 1), "rss_ratio": round(peak["mmbench"] / peak["bare"], 3),
            "frozen_rss_ratio": round(peak["mmbench"] / peak["frozen"], 3)}


def describe(row: dict[str, Any]) -> str:
    return (f"mmbench {row['mmbench_s']:7.2f} s / bare {row['bare_s']:7.2f} s = {row['wall_ratio']:5.3f} "
            f"(frozen bare {row['frozen_s']:.2f} s: {row['frozen_wall_ratio']:5.3f}); peak {row['mmbench_mb']:7.1f} / "
            f"{row['bare_mb']:7.1f} MB = {row['rss_ratio']:5.3f} (frozen: {row['frozen_rss_ratio']:5.3f})")


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak process-tree PSS in MB) of one run of `command`."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], tree_pss_kb(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = process.communicate()
    wall = time.perf_counter() - started
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{err.decode()[-3000:]}")
    return wall, peak[0] / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=0, help="emoji to build from (0: all)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="tiny,vit-s32")
    parser.add_argument("--tasks", default="zero-shot,retrieval,linear-probe")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="the bare loop's torch threads (default: the cores this process may use, "
                             "which mmbench's default options give a lone job too)")
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "mmbench-bench-evaluate"))
    parser.add_argument("--bare", nargs=4, metavar=("MODEL_DIR", "HOME", "TASK", "PROMPTS"), help=argparse.SUPPRESS)
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
    from mmbench import data
    from mmbench.adapters import ADAPTERS
    from mmbench.paths import remove_tree
    from mmbench.prompts import prompts, templates

    options = {"limit": args.images, "size": 96}  # the suites name them too, or mmbench would rebuild it
    if not data.exists("openmoji") or data.info("openmoji").options != ADAPTERS.get("openmoji")(**options).options():
        data.build(ADAPTERS.get("openmoji")(**options), workers=os.cpu_count() or 1)
    class_names = data.info("openmoji").class_names or []
    prompts_file = work / "prompts.json"  # the very prompts mmbench's zero-shot builds
    prompts_file.write_text(json.dumps([list(prompts(name, templates())) for name in class_names]))
    print(f"{len(class_names)} classes, {data.info('openmoji').splits} rows", flush=True)
    rows = []
    for size in args.sizes.split(","):
        folder = clip_folder(work, size)
        for task in args.tasks.split(","):
            suite = work / f"suite-{size}-{task}.yaml"
            model = {"name": "hf-clip", "config": {"path": str(folder)}}
            suite.write_text(json.dumps({"name": "overhead", "seeds": 1, "models": [model],
                                         "datasets": [{"name": "openmoji", "options": options, "tasks": [task]}]}))
            runs: dict[str, list[tuple[float, float]]] = {"mmbench": [], "bare": [], "frozen": []}
            for attempt in range(args.repeat):
                store = work / f"store-{size}-{task}-{attempt}"
                remove_tree(store, work, "benchmark store")  # a fresh store: the run does the work
                commands = {
                    "mmbench": [sys.executable, "-m", "mmbench.cli", "run", "--suite", str(suite),
                                "--store", str(store), "--no-leaderboard", "--quiet"],
                    **bare_commands([sys.executable, __file__, "--threads", str(args.threads), "--bare", str(folder),
                                     str(home), task, str(prompts_file)]),
                }
                for name, command in commands.items():  # interleaved
                    runs[name].append(measured(command, env))
            row = {"size": size, "task": task, **ratios(runs)}
            rows.append(row)
            print(f"{size:>8} {task:>10}: {describe(row)}", flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
