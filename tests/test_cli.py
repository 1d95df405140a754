import csv
import os
import subprocess
import sys
import time
from pathlib import Path

TINY = str(Path(__file__).parent / "data" / "tiny_suite.yaml")


def mmbench_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MMBENCH_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "mmbench.cli", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def test_run_then_leaderboard_end_to_end(tmp_path: Path, isolated_home: Path) -> None:
    store, out = tmp_path / "store", tmp_path / "board"
    run = mmbench_cli("run", "--suite", TINY, "--store", str(store), "--no-leaderboard", "--quiet",
                      home=isolated_home)
    assert run.returncode == 0, run.stderr
    assert "4 run record(s)" in run.stdout
    board = mmbench_cli("leaderboard", "--store", str(store), "--out", str(out), home=isolated_home)
    assert board.returncode == 0, board.stderr
    markdown = (out / "README.md").read_text()
    assert "## shapes-tiny · classification" in markdown
    assert "| concat-fusion |" in markdown and "| majority |" in markdown
    rows = list(csv.DictReader((out / "leaderboard.csv").open()))
    assert {"dataset", "task", "model", "metric", "value", "ci_low", "ci_high", "n", "seeds"} <= set(rows[0])
    accuracy = [r for r in rows if r["metric"] == "accuracy"]
    assert {r["model"] for r in accuracy} == {"majority", "concat-fusion"}
    assert all(r["seeds"] == "2" and float(r["ci_low"]) <= float(r["value"]) <= float(r["ci_high"])
               for r in accuracy)


def test_ls_and_errors(isolated_home: Path) -> None:
    models = mmbench_cli("ls", "models", home=isolated_home)
    assert "concat-fusion" in models.stdout.split()
    suites = mmbench_cli("ls", "suites", home=isolated_home)
    assert "default" in suites.stdout.split()
    unknown = mmbench_cli("run", "--suite", TINY, "--models", "concat-fuson", home=isolated_home)
    assert unknown.returncode == 2
    assert "--models: unknown model 'concat-fuson'; did you mean 'concat-fusion'?" in unknown.stderr


def test_help_is_fast_and_imports_no_torch(isolated_home: Path) -> None:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c",
                             "import sys\nfrom mmbench.cli import main\n"
                             "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
                             "assert 'torch' not in sys.modules and 'datasets' not in sys.modules\n"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "run" in result.stdout and "leaderboard" in result.stdout
    assert time.perf_counter() - started < 10  # generous: a torch import alone takes seconds
