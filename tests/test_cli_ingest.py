"""`mmbench ingest`, `ls datasets`, `info`, `card` and `run --model-file` through the CLI."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fakes.hateful_memes import write_fake


def cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MMBENCH_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "mmbench.cli", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def test_ingest_summary_reconciles_and_strict_fails(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "memes"
    injected = write_fake(root)
    with (root / "train.jsonl").open("a") as handle:
        handle.write('\n{"id": 7, "img": "img/00007.png", "text": "image never shipped", "label": 0}')
        handle.write("\n{broken json")
    ok = cli("ingest", "hateful-memes", "--root", str(root), "--name", "memes", home=isolated_home)
    assert ok.returncode == 0, ok.stderr
    assert f"read {injected + 2} = kept {injected} + rejected 2" in ok.stdout
    report = [json.loads(line) for line in (isolated_home / "datasets" / "memes" / "rejections.jsonl").open()]
    assert {r["reason"].split(":")[0] for r in report} == {"missing image file", "broken JSON"}
    assert all(r["file"] == "train.jsonl" for r in report)
    # The first build used a worker per CPU (the default); this one none: same dataset.
    fingerprint = json.loads((isolated_home / "datasets" / "memes" / "info.json").read_text())
    strict = cli("ingest", "hateful-memes", "--root", str(root), "--name", "memes", "--strict",
                 "--workers", "1", home=isolated_home)
    assert strict.returncode == 1 and "strict" in strict.stderr
    rebuilt = json.loads((isolated_home / "datasets" / "memes" / "info.json").read_text())
    assert rebuilt["fingerprint"] == fingerprint["fingerprint"]

    listing = cli("ls", "datasets", home=isolated_home)
    assert listing.stdout.startswith("memes") and "MB" in listing.stdout
    card = cli("card", "memes", home=isolated_home)
    assert card.returncode == 0, card.stderr
    assert "Measured statistics" in card.stdout


def test_ingest_reads_outside_the_root_only_when_allowed(
        tmp_path: Path, isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mmbench.cli import main
    from tests.fakes import vlmevalkit_tsv

    root = tmp_path / "memes"
    injected = write_fake(root)
    (root / "img").rename(tmp_path / "img")
    (root / "img").symlink_to(tmp_path / "img")
    ingest = ["ingest", "hateful-memes", "--root", str(root), "--workers", "1", "--strict"]
    assert main(ingest) == 1
    out = capsys.readouterr().out
    assert f"kept 0 + rejected {injected}" in out
    assert f"rejected {injected:>6} x image leads outside the corpus root" in out
    assert main([*ingest, "--allow-symlinks-out"]) == 0
    assert f"kept {injected} + rejected 0" in capsys.readouterr().out
    info = json.loads((isolated_home / "datasets" / "hateful-memes" / "info.json").read_text())
    assert info["corpus_root"] == {"path": str(root.resolve()), "allow_symlinks_out": True}

    tsv_root = tmp_path / "tsv"  # the only annotation file leads out: an error naming it
    vlmevalkit_tsv.write_fake(tmp_path / "elsewhere")
    tsv_root.mkdir()
    (tsv_root / "FAKE_MCQ.tsv").symlink_to(tmp_path / "elsewhere" / "FAKE_MCQ.tsv")
    assert main(["ingest", "vlmevalkit-tsv", "--root", str(tsv_root), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mmbench: error: annotation file leads outside the corpus root: "
                          f"{tsv_root}/FAKE_MCQ.tsv resolves to ")
    assert "--allow-symlinks-out" in err


def test_ingest_help_lists_adapter_options(isolated_home: Path) -> None:
    out = cli("ingest", "hateful-memes", "--help", home=isolated_home)
    assert out.returncode == 0
    assert "--images-required" in out.stdout and "--root" in out.stdout
    assert "--workers" in out.stdout and "--allow-symlinks-out" in out.stdout
    missing = cli("ingest", "hateful-memes", "--root", "/nonexistent/corpus", home=isolated_home)
    assert missing.returncode == 2 and "/nonexistent/corpus" in missing.stderr
    unknown = cli("ingest", "hatefull-memes", "--root", ".", home=isolated_home)
    assert unknown.returncode == 2 and "Did you mean 'hateful-memes'" in unknown.stderr


def test_run_with_a_model_file(tmp_path: Path, isolated_home: Path) -> None:
    model_file = tmp_path / "my_model.py"
    model_file.write_text(textwrap.dedent("""
        import numpy as np
        from mmbench.models.base import FitReport

        class AlwaysNo:
            def fit(self, train, val, *, num_classes, seed):
                self.num_classes = num_classes
                return FitReport()

            def predict_proba(self, batch):
                probs = np.zeros((len(batch), self.num_classes))
                probs[:, 0] = 1.0
                return probs
    """))
    suite = Path(__file__).parent / "data" / "tiny_suite.yaml"
    store = tmp_path / "store"
    out = cli("run", "--suite", str(suite), "--model-file", f"{model_file}:AlwaysNo", "--seeds", "1",
              "--store", str(store), "--no-leaderboard", "--quiet", home=isolated_home)
    assert out.returncode == 0, out.stderr
    records = [json.loads(p.read_text()) for p in (store / "records").glob("*.json")]
    assert [r["model"] for r in records] == ["AlwaysNo"]
    bad = cli("run", "--suite", str(suite), "--model-file", "nowhere.py:X", home=isolated_home)
    assert bad.returncode == 2 and "nowhere.py" in bad.stderr
