"""mmbench's own processes freeze what torch brings in; nobody else's process is touched.
Each check runs in a fresh interpreter: freezing the test runner's heap would outlive the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _python(code: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                          text=True).stdout.strip().splitlines()[-1]


def test_only_an_owned_process_is_frozen_and_only_once() -> None:
    out = _python(
        "import gc, json, sys\n"
        "from mmbench import heap\n"
        "heap.freeze_imports()\n"
        "unowned = [gc.get_freeze_count(), 'torch' in sys.modules]\n"
        "heap.own_this_process(); heap.freeze_imports()\n"
        "first = gc.get_freeze_count()\n"
        "later = [[] for _ in range(1000)]\n"
        "heap.freeze_imports()\n"
        "print(json.dumps([unowned, first, gc.get_freeze_count(), 'torch' in sys.modules]))\n")
    unowned, first, again, torch_in = json.loads(out)
    assert unowned == [0, False]  # not mmbench's process: torch not even imported
    assert first > 100_000 and torch_in  # torch's objects are among the frozen
    assert again == first  # once per process: later objects stay collectable


def test_the_command_freezes_its_process_and_a_library_call_does_not(tmp_path: Path) -> None:
    env = {**os.environ, "MMBENCH_HOME": str(tmp_path / "home")}
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps({"name": "heap", "seeds": 1, "models": ["majority"], "diagnostics": [],
                                 "datasets": [{"name": "shapes", "options": {"scale": 0.02}}]}))
    subprocess.run([sys.executable, "-m", "mmbench.cli", "ingest", "shapes", "--scale", "0.02"],
                   env=env, check=True, capture_output=True)
    report = "import atexit, gc; atexit.register(lambda: print(gc.get_freeze_count()))\n"
    command = _python(report + "import sys; from mmbench import cli\n"
                      f"sys.argv = ['mmbench', 'run', '--suite', {str(suite)!r}, '--store', "
                      f"{str(tmp_path / 'a')!r}, '--no-leaderboard', '--quiet']\n"
                      "cli.entry()\n", env)
    library = _python(report + f"import mmbench; mmbench.run({str(suite)!r}, store={str(tmp_path / 'b')!r})\n", env)
    called_main = _python(report + "from mmbench import cli\n"
                          f"cli.main(['run', '--suite', {str(suite)!r}, '--store', {str(tmp_path / 'c')!r}, "
                          "'--no-leaderboard', '--quiet'])\n", env)
    assert int(command) > 100_000
    assert int(library) == 0 and int(called_main) == 0
