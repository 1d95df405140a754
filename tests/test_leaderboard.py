import os
from pathlib import Path

from mmbench.leaderboard import aggregate, render_csv, render_markdown
from mmbench.results import RunRecord

GOLDEN = Path(__file__).parent / "golden"


def _record(model: str, seed: int, acc: float, f1: float, fingerprint: str = "f" * 64,
            created: str = "2026-01-01T00:00:00Z") -> RunRecord:
    def metric(v: float) -> dict:
        return {"value": v, "ci_low": v - 0.03, "ci_high": v + 0.03, "higher_is_better": True}

    return RunRecord(key=f"{model}-{seed}", benchmark="golden", dataset="shapes",
                     dataset_fingerprint=fingerprint, task="classification", eval_split="test",
                     model=model, model_config={}, config_hash=f"hash-{model}", seed=seed,
                     limit=None, n=1000, metrics={"macro_f1": metric(f1), "accuracy": metric(acc)},
                     primary_metric="accuracy", created=created)


def records() -> list[RunRecord]:
    return [
        _record("majority", 0, 0.5, 0.333), _record("majority", 1, 0.5, 0.333),
        _record("concat-fusion", 0, 0.80, 0.79), _record("concat-fusion", 1, 0.84, 0.83),
        _record("text-only", 0, 0.52, 0.51), _record("text-only", 1, 0.50, 0.49),
        # An older build of the dataset: must not mix into the table.
        _record("concat-fusion", 9, 0.10, 0.10, fingerprint="0" * 64, created="2025-01-01T00:00:00Z"),
    ]


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("MMBENCH_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from the golden file (MMBENCH_UPDATE_GOLDEN=1 rewrites)"


def test_markdown_matches_golden_file() -> None:
    _check_golden("leaderboard.md", render_markdown(aggregate(records())))


def test_csv_matches_golden_file() -> None:
    _check_golden("leaderboard.csv", render_csv(aggregate(records())))


def test_rows_pool_seeds_and_rank_by_primary_metric() -> None:
    rows = {(r.model, r.metric): r for r in aggregate(records())}
    fusion = rows[("concat-fusion", "accuracy")]
    assert fusion.seeds == 2 and abs(fusion.value - 0.82) < 1e-12
    assert fusion.ci_low < 0.80 and fusion.ci_high > 0.84
    markdown = render_markdown(aggregate(records()))
    table = [line for line in markdown.splitlines() if line.startswith("| ") and "rank" not in line]
    order = [line.split("|")[2].strip() for line in table]
    assert order == ["concat-fusion", "text-only", "majority"]
