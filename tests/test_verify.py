"""`mmbench verify`: the suite behind a leaderboard is run again and every cell compared."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mmbench.cli import main
from mmbench.report.diagnostics import MEASURED_HERE

TINY = str(Path(__file__).parent / "data" / "tiny_suite.yaml")


def test_a_leaderboard_reproduces_here_and_a_changed_cell_is_named(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    board = tmp_path / "board"
    assert main(["run", "--suite", TINY, "--store", str(tmp_path / "store"), "--leaderboard-dir", str(board),
                 "--quiet", "--jobs", "1", "--models", "majority"]) == 0
    options = json.loads((board / "suite.json").read_text())
    assert options["suite"] == TINY and options["models"] == ["majority"] and options["portable"] is False
    capsys.readouterr()
    assert main(["verify", str(board), "--jobs", "1", "--quiet"]) == 0
    # latency, throughput, memory and fit time are this machine's: verify leaves them out
    cells = len([r for r in csv.DictReader((board / "leaderboard.csv").open()) if r["metric"] not in MEASURED_HERE])
    assert f"{cells} of {cells} cell(s) reproduced exactly" in capsys.readouterr().out

    rows = list(csv.DictReader((board / "leaderboard.csv").open()))
    rows[0]["value"] = f"{float(rows[0]['value']) + 0.1:.3f}"  # as if another machine had made it
    with (board / "leaderboard.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["verify", str(board), "--jobs", "1", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert f"{cells - 1} of {cells} cell(s) reproduced exactly" in out
    assert f"differs  shapes-tiny/classification/majority/{rows[0]['metric']}: committed {rows[0]['value']}" in out
    assert "(delta -0.100," in out


def test_a_folder_without_suite_json_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path)]) == 2
    assert "suite.json is missing" in capsys.readouterr().err
