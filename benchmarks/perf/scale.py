"""Time and memory against corpus size: ingest, a fit step and an evaluate step at N records.

For each N, a `shapes` corpus scaled so that its train split holds N records (val N/4,
test N/2) is built into a scratch home in a fresh process (the ingest: render, check,
fingerprint and write Arrow), then `mmbench run` fits concat fusion on it for one epoch
(one seed, one thread, no diagnostics) and scores it on the test split. Wall time and peak
process-tree memory (PSS, see `evaluate_overhead.tree_pss_kb`) come from outside each
process; the fit step's and the evaluate step's own seconds and the fit's peak resident
memory come from the run record. Printed per step: seconds per 1,000 records (flat when
time is linear in N) and peak MB (flat when memory does not grow with N), and their ratios
to the smallest N.

    python benchmarks/perf/scale.py                        # 10k, 30k, 100k
    python benchmarks/perf/scale.py --sizes 300,900        # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_overhead import measured  # noqa: E402 (a sibling script)

TRAIN_RECORDS_AT_SCALE_1 = 2000  # ShapesAdapter.SPLIT_SIZES["train"]

BUILD = """
import sys
from pathlib import Path
from mmbench import data
from mmbench.adapters.shapes import ShapesAdapter
data.build(ShapesAdapter(scale=float(sys.argv[1])), name=sys.argv[2], home=Path(sys.argv[3]))
"""


def _suite(path: Path, name: str) -> None:
    path.write_text(json.dumps({"name": "scale", "seeds": 1, "models": ["concat-fusion"],
                                "datasets": [{"name": name, "tasks": ["classification"]}],
                                "train": {name: {"epochs": 1, "min_epochs": 1}}, "diagnostics": []}))


def one_size(records: int, work: Path, env: dict[str, str]) -> dict[str, Any]:
    home = work / f"home-{records}"
    name = f"scale-{records}"
    scale = records / TRAIN_RECORDS_AT_SCALE_1
    build_s, build_mb = measured([sys.executable, "-c", BUILD, str(scale), name, str(home / "datasets")], env)
    suite = work / f"scale-{records}.yaml"
    _suite(suite, name)
    run_env = env | {"MMBENCH_HOME": str(home)}
    run_s, run_mb = measured([sys.executable, "-m", "mmbench.cli", "run", "--suite", str(suite), "--quiet",
                              "--threads", "1", "--leaderboard-dir", str(work / f"board-{records}")], run_env)
    record_files = list((home / "results" / "records").rglob("*.json"))
    record = json.loads(record_files[0].read_text())
    return {"records": records, "build_s": build_s, "build_mb": build_mb, "run_s": run_s, "run_mb": run_mb,
            "fit_s": record["timings"]["fit_s"], "fit_peak_mb": record["model_info"]["fit_peak_mb"],
            "eval_s": record["timings"]["total_s"], "eval_records": record["n"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,30000,100000", help="train records, comma-separated")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a new temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mmbench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ) | {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    rows = [one_size(int(n), work, env) for n in args.sizes.split(",")]
    base = rows[0]
    print(f"{'records':>8} | {'ingest s/1k':>11} {'MB':>6} | {'fit s/1k':>8} {'fit MB':>6} | "
          f"{'eval s/1k':>9} | {'run MB':>6}")
    for row in rows:
        per_k = {step: row[f"{step}_s"] / (row["records"] / 1000) for step in ("build", "fit")}
        eval_per_k = row["eval_s"] / (row["eval_records"] / 1000)
        print(f"{row['records']:>8} | {per_k['build']:>11.3f} {row['build_mb']:>6.0f} | {per_k['fit']:>8.3f} "
              f"{row['fit_peak_mb']:>6.0f} | {eval_per_k:>9.3f} | {row['run_mb']:>6.0f}")
    print()
    for row in rows[1:]:
        ratio = row["records"] / base["records"]
        print(f"{row['records']} vs {base['records']} records ({ratio:.0f}x): "
              f"ingest time {row['build_s'] / base['build_s'] / ratio:.2f} of linear, memory "
              f"{row['build_mb'] / base['build_mb']:.2f}x; fit time {row['fit_s'] / base['fit_s'] / ratio:.2f} of "
              f"linear, memory {row['fit_peak_mb'] / base['fit_peak_mb']:.2f}x; evaluate time "
              f"{row['eval_s'] / base['eval_s'] / ratio:.2f} of linear; "
              f"run memory {row['run_mb'] / base['run_mb']:.2f}x")
    (work / "scale.json").write_text(json.dumps(rows, indent=1))
    print(f"\nfigures: {work / 'scale.json'}")


if __name__ == "__main__":
    main()
