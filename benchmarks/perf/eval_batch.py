"""How the evaluation batch size (`--eval-batch-size`) trades time for memory.

Each (model, task, batch size) is one fresh process that evaluates a transformers CLIP
(random weights, real architecture sizes) on real OpenMoji images at 96 px: zero-shot
over the emoji groups and retrieval against the emoji names, through mmbench's own task
code (`fit_and_evaluate`, the function the runner calls). Runs are interleaved over
batch sizes and repeated; the table gives the median wall time and peak RSS of each,
and the evaluation's own time and the peak as ratios to the largest batch (256, the old
fixed size) measured in the same run.

    python benchmarks/perf/eval_batch.py                      # full: every emoji
    python benchmarks/perf/eval_batch.py --images 200 --repeat 1 --sizes tiny   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# hidden, layers, heads, patch: ViT-S/32-like (about 44M parameters with its text tower) and a tiny one.
SIZES = {"vit-s32": (384, 12, 6, 32), "tiny": (64, 2, 2, 16)}
BATCHES = (32, 64, 128, 256)


def clip_folder(root: Path, size: str) -> Path:
    """A randomly initialised CLIP of the given size, saved offline with a small BPE tokenizer."""
    import transformers

    folder = root / f"clip-{size}"
    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    chars = string.ascii_lowercase + string.digits + ".,!?:'-&"
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({f"{c}</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    ids = {"bos_token_id": vocab["<|startoftext|>"], "eos_token_id": vocab["<|endoftext|>"],
           "pad_token_id": vocab["<|endoftext|>"]}
    save_clip(folder, size, tokenizer, len(vocab), ids)
    return folder


def save_clip(folder: Path, size: str, tokenizer: Any, vocab_size: int, ids: dict[str, int],
              hidden_act: str | None = None) -> None:
    """A randomly initialised CLIP of `size` (seed 0) saved into `folder` with `tokenizer`
    and a 96 px processor config; `hidden_act` for both towers when given."""
    import torch
    import transformers

    hidden, layers, heads, patch = SIZES[size]
    act = {"hidden_act": hidden_act} if hidden_act else {}
    config = transformers.CLIPConfig(
        text_config={"vocab_size": vocab_size, "hidden_size": hidden, "intermediate_size": 4 * hidden,
                     "num_hidden_layers": layers, "num_attention_heads": heads, "max_position_embeddings": 77,
                     **ids, **act},
        vision_config={"image_size": 96, "patch_size": patch, "hidden_size": hidden,
                       "intermediate_size": 4 * hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
                       **act},
        projection_dim=min(hidden, 256))
    torch.manual_seed(0)
    transformers.CLIPModel(config).eval().save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    transformers.CLIPImageProcessorPil(size={"shortest_edge": 96}, crop_size={"height": 96, "width": 96}
                                       ).save_pretrained(str(folder))


def child(model_dir: str, task: str, batch: int) -> dict[str, Any]:
    started = time.perf_counter()
    from mmbench import data
    from mmbench.models import create
    from mmbench.runner.fitting import fit_and_evaluate
    from mmbench.tasks import TASKS
    from mmbench.tasks.batching import evaluating_with

    model = create("hf-clip", path=model_dir)
    dataset, info = data.load("openmoji"), data.info("openmoji")
    evaluating = time.perf_counter()
    with evaluating_with(batch):
        out = fit_and_evaluate(TASKS.get(task)(), model, dataset, info, seed=0)
    done = time.perf_counter()
    return {"wall_s": done - started, "eval_s": done - evaluating, "n": out.n,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "primary": next(iter(out.metrics.values())).value}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=0, help="emoji to build from (0: all)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="tiny,vit-s32")
    parser.add_argument("--tasks", default="zero-shot,retrieval")
    parser.add_argument("--batches", default=",".join(map(str, BATCHES)))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "mmbench-bench-eval-batch"))
    parser.add_argument("--child", nargs=3, metavar=("MODEL_DIR", "TASK", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(child(args.child[0], args.child[1], int(args.child[2]))))
        return

    work = Path(args.work)
    env = {**os.environ, "MMBENCH_HOME": str(work / f"home-{args.images}"), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1"}
    os.environ.update(env)
    from mmbench import data
    from mmbench.adapters import ADAPTERS

    if not data.exists("openmoji"):
        data.build(ADAPTERS.get("openmoji")(limit=args.images, size=96), workers=os.cpu_count() or 1)
    batches = [int(b) for b in args.batches.split(",")]
    rows = []
    for size in args.sizes.split(","):
        folder = clip_folder(work, size)
        for task in args.tasks.split(","):
            runs: dict[int, list[dict[str, Any]]] = {b: [] for b in batches}
            for _ in range(args.repeat):
                for batch in batches:  # interleaved: drift on a shared machine hits all alike
                    done = subprocess.run([sys.executable, __file__, "--threads", str(args.threads),
                                           "--child", str(folder), task, str(batch)],
                                          env=env, capture_output=True, text=True, check=True)
                    runs[batch].append(json.loads(done.stdout.strip().splitlines()[-1]))
            base = runs[max(batches)]
            base_eval = statistics.median(r["eval_s"] for r in base)
            base_rss = statistics.median(r["peak_rss_mb"] for r in base)
            for batch in batches:
                wall = statistics.median(r["wall_s"] for r in runs[batch])
                spent = statistics.median(r["eval_s"] for r in runs[batch])
                rss = statistics.median(r["peak_rss_mb"] for r in runs[batch])
                rows.append({"size": size, "task": task, "batch": batch, "n": runs[batch][0]["n"],
                             "wall_s": round(wall, 2), "eval_s": round(spent, 2), "rss_mb": round(rss, 1),
                             "eval_ratio": round(spent / base_eval, 3), "rss_ratio": round(rss / base_rss, 3)})
                print(f"{size:>8} {task:>10} batch {batch:>4}: process {wall:7.2f} s, evaluation {spent:7.2f} s "
                      f"({spent / base_eval:5.3f}), peak {rss:7.1f} MB ({rss / base_rss:5.3f})  "
                      f"n={runs[batch][0]['n']}", flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
