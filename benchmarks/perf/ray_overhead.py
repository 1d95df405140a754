"""The Ray executor's cost against the local executor, and what a second node buys.

Runs one suite (default: the default suite) from a fresh result store in each of these
setups, back to back in this order, each driver in its own process, on one shared dataset
home whose corpora are built once before any timing:

- `local`: `mmbench run --jobs 2` (the local executor, two worker processes);
- `ray`: `mmbench run --executor ray` with a local Ray of 2 CPUs started by the driver;
- `ray-1-node`: a Ray cluster of one node with 1 CPU (`ray.cluster_utils.Cluster`, the
  head only), the driver attached with `--address`;
- `ray-2-nodes`: the same head plus a second node with 1 CPU.

Prints wall seconds per setup and the ratios ray / local (the overhead, target near 1)
and 1 node / 2 nodes (the speed-up of a second node, at most 2); `--out` writes them as
JSON. Every setup must produce the same number of records. Example:

    python benchmarks/perf/ray_overhead.py --out bench-out/ray.json
    python benchmarks/perf/ray_overhead.py --setups local,ray --datasets shapes
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETUPS = ("local", "ray", "ray-1-node", "ray-2-nodes")


def _run(args: argparse.Namespace, home: Path, store: Path, extra: list[str], check: bool = True) -> float:
    command = [sys.executable, "-m", "mmbench.cli", "run", "--suite", args.suite, "--store", str(store),
               "--no-leaderboard", "--quiet", *extra]
    if args.datasets:
        command += ["--datasets", args.datasets]
    if args.limit:
        command += ["--limit", str(args.limit)]
    env = {**os.environ, "MMBENCH_HOME": str(home), "RAY_AUTH_MODE": "disabled"}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds


def _records(store: Path) -> int:
    return len(list((store / "records").glob("*.json")))


def _on_cluster(args: argparse.Namespace, home: Path, store: Path, nodes: int, temp: Path) -> float:
    from ray.cluster_utils import Cluster

    os.environ.update({"RAY_AUTH_MODE": "disabled", "RAY_TMPDIR": str(temp)})
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        return _run(args, home, store, ["--executor", "ray", "--address", cluster.address])
    finally:
        cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="default")
    parser.add_argument("--datasets", help="comma-separated subset of the suite's datasets")
    parser.add_argument("--limit", type=int, help="rows per split (default: all)")
    parser.add_argument("--setups", default=",".join(SETUPS), help=f"comma-separated, of {', '.join(SETUPS)}")
    parser.add_argument("--out", help="write the figures here as JSON")
    args = parser.parse_args()
    setups = [s for s in args.setups.split(",") if s]
    unknown = set(setups) - set(SETUPS)
    if unknown:
        raise SystemExit(f"unknown setups {sorted(unknown)}; choose from {SETUPS}")
    work = Path(tempfile.mkdtemp(prefix="mmbench-ray-bench-"))
    home = work / "home"
    # Untimed: builds the corpora (which happens before any step; a tiny slice may then fail
    # a task that needs more rows, which does not matter here).
    _run(args, home, work / "warm-up", ["--limit", "1", "--seeds", "1"], check=False)
    seconds: dict[str, float] = {}
    records: dict[str, int] = {}
    for setup in setups:
        store = work / f"store-{setup}"
        if setup == "local":
            seconds[setup] = _run(args, home, store, ["--jobs", "2"])
        elif setup == "ray":
            seconds[setup] = _run(args, home, store, ["--executor", "ray"])
        else:
            seconds[setup] = _on_cluster(args, home, store, 2 if setup == "ray-2-nodes" else 1,
                                         Path(tempfile.mkdtemp(prefix="ray", dir="/tmp")))
        records[setup] = _records(store)
        print(f"{setup:>12}: {seconds[setup]:7.1f} s, {records[setup]} records", flush=True)
    if len(set(records.values())) != 1:
        raise SystemExit(f"the setups wrote different numbers of records: {records}")
    ratios = {}
    if {"local", "ray"} <= seconds.keys():
        ratios["ray / local"] = seconds["ray"] / seconds["local"]
    if {"ray-1-node", "ray-2-nodes"} <= seconds.keys():
        ratios["1 node / 2 nodes"] = seconds["ray-1-node"] / seconds["ray-2-nodes"]
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"suite": args.suite, "datasets": args.datasets, "limit": args.limit,
                                              "seconds": seconds, "records": records, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
