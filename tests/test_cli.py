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


def test_a_run_with_failing_steps_says_which_exits_1_and_boards_the_rest(tmp_path: Path,
                                                                          isolated_home: Path) -> None:
    """The local executor: the faulty model raises in every fit, retried once; the majority
    model's records are written and on the leaderboard, the failures named and on disk."""
    faulty = str(Path(__file__).parent / "data" / "faulty_model.py") + ":FaultyModel"
    store, out = tmp_path / "store", tmp_path / "board"
    env_home = {**os.environ, "MMBENCH_HOME": str(isolated_home), "MMBENCH_TEST_FAULT": "raise"}
    run = subprocess.run([sys.executable, "-m", "mmbench.cli", "run", "--suite", TINY, "--models", "majority",
                          "--model-file", faulty, "--retries", "1", "--jobs", "1", "--store", str(store),
                          "--leaderboard-dir", str(out), "--quiet"],
                         capture_output=True, text=True, env=env_home, timeout=600)
    assert run.returncode == 1, run.stderr
    assert "2 step(s) failed (2 finished)" in run.stderr and "InjectedFault" in run.stderr
    assert "after 2 attempt(s)" in run.stderr
    failures = sorted((store / "failures").rglob("*.json"))
    assert len(failures) == 2 and all("__faulty__" in p.name for p in failures)
    rows = list(csv.DictReader((out / "leaderboard.csv").open()))
    assert {r["model"] for r in rows} == {"majority"}


def test_an_address_without_the_ray_executor_is_a_one_line_error(isolated_home: Path) -> None:
    run = mmbench_cli("run", "--suite", TINY, "--address", "127.0.0.1:6379", "--no-leaderboard", home=isolated_home)
    assert run.returncode == 2 and "--executor ray" in run.stderr and "Traceback" not in run.stderr
