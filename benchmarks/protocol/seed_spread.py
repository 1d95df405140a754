"""Per-family seed spread on `shapes` under the shared protocol: the check of a stable protocol.

Fits every trainable fusion family (and any models named) on `shapes` for each seed, one
torch thread per fit, `--jobs` fits at a time, each in its own process through
`fit_shapes.py`, and prints one line per fit, then per family the mean, standard deviation
(with k-1) and lowest accuracy over the seeds. The target of the stable protocol: every
family that can learn the task does so on every seed, seed SD at most 0.03.

    python benchmarks/protocol/seed_spread.py                      # five families, seeds 0 1 2
    python benchmarks/protocol/seed_spread.py --portable           # the numeric paths of `run --portable`
    python benchmarks/protocol/seed_spread.py concat-fusion --seeds 0 1 2 3 4 --train '{"lr": 1e-3}'
    python benchmarks/protocol/seed_spread.py cross-attention-fusion --portable --config '{"heads": 1}'
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

FAMILIES = ("concat-fusion", "film-fusion", "bilinear-fusion", "cross-attention-fusion", "gated-fusion")
TARGET_SD = 0.03


def _fit(model: str, seed: int, train: str, config: str, env: dict[str, str]) -> dict[str, Any]:
    script = Path(__file__).with_name("fit_shapes.py")
    done = subprocess.run([sys.executable, str(script), model, str(seed), "--train", train, "--config", config],
                          capture_output=True, text=True, env=env, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    from mmbench.numerics import PORTABLE_ENV

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=list(FAMILIES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--train", default="{}", help="TrainConfig fields as JSON (default: the shared protocol)")
    parser.add_argument("--config", default="{}", help="other model config keys as JSON, for every model")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--portable", action="store_true", help="pin the numeric paths as `mmbench run --portable`")
    args = parser.parse_args()
    env = dict(os.environ) | (PORTABLE_ENV if args.portable else {})
    jobs = [(model, seed) for model in args.models for seed in args.seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: _fit(job[0], job[1], args.train, args.config, env), jobs))
    for r in results:
        kinds = " ".join(f"{k} {r[k]:.3f}" for k in ("color", "shape", "binding") if k in r)
        print(f"{r['model']:24s} seed {r['seed']}  accuracy {r['accuracy']:.3f}  ({kinds})  "
              f"epochs {r['epochs']} best {r['best_epoch']}  {r['fit_s']} s")
    print()
    for model in args.models:
        scores = [r["accuracy"] for r in results if r["model"] == model]
        sd = statistics.stdev(scores) if len(scores) > 1 else 0.0
        verdict = "met" if sd <= TARGET_SD else "NOT met"
        print(f"{model:24s} mean {statistics.fmean(scores):.3f}  seed SD {sd:.3f}  lowest {min(scores):.3f}  "
              f"(SD <= {TARGET_SD}: {verdict})")


if __name__ == "__main__":
    main()
