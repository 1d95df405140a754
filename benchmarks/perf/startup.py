"""Start-up and cache: what a command costs before any model work.

Times, each as a fresh process, median of --repeat runs interleaved: `python -c pass`
(the interpreter alone), `import mmbench`, `mmbench --help`, and `mmbench run` of a suite
whose records are all in the store already (nothing to fit or evaluate: planning,
fingerprint checks, reading the store), from a home where it ran before. Without
--home, a small suite is run once first into a scratch home.

    python benchmarks/perf/startup.py                          # a scratch tiny suite
    MMBENCH_HOME=~/.mmbench python benchmarks/perf/startup.py --home ~/.mmbench --suite default
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / "tests" / "data" / "tiny_suite.yaml")


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", help="a home where --suite already ran (default: a scratch one)")
    parser.add_argument("--suite", default=TINY)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from evaluate_overhead import byte_compile_mmbench

    byte_compile_mmbench()  # as an installed copy has it
    home = args.home or tempfile.mkdtemp(prefix="mmbench-bench-startup-")
    env = {**os.environ, "MMBENCH_HOME": home, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    rerun = [sys.executable, "-m", "mmbench.cli", "run", "--suite", args.suite, "--no-leaderboard", "--quiet"]
    if args.home is None:
        subprocess.run(rerun, env=env, check=True, capture_output=True)  # fill the store once
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import mmbench": [sys.executable, "-c", "import mmbench"],
        "mmbench --help": [sys.executable, "-m", "mmbench.cli", "--help"],
        "rerun, all records stored": rerun,
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, command in commands.items():  # interleaved
            times[name].append(timed(command, env))
    base = statistics.median(times["python -c pass"])
    for name, spent in times.items():
        median = statistics.median(spent)
        print(f"{name:<28} {median:6.2f} s  ({median - base:+.2f} s over the interpreter)")


if __name__ == "__main__":
    main()
