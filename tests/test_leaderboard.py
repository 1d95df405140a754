import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mmbench.report.leaderboard import aggregate, render_csv, render_markdown
from mmbench.runner.store import RunRecord
from mmbench.tasks.classification import predictions_table, score

GOLDEN = Path(__file__).parent / "golden"
N = 300

# Per-sample accuracy each synthetic model aims at. On `shapes` (two seeds) fusion and
# image-only are within noise of each other (a tie), text-only and majority far below.
# On `toy` (one seed, so McNemar) strong is clearly best and the other two tie.
MODELS = {"shapes": {"concat-fusion": 0.82, "image-only": 0.79, "text-only": 0.56, "majority": 0.50},
          "toy": {"strong": 0.9, "weak": 0.6, "weaker": 0.58}}


def _predictions(dataset: str, model: str, seed: int) -> pa.Table:
    rng = np.random.default_rng([ord(c) for c in dataset + model] + [seed])
    labels = np.random.default_rng(7).integers(0, 2, N)
    correct = rng.random(N) < MODELS[dataset][model]
    margin = 0.5 + 0.4 * rng.random(N)
    wanted = np.where(correct, labels, 1 - labels)
    probs = np.where(wanted[:, None] == np.arange(2), margin[:, None], 1 - margin[:, None])
    return predictions_table([f"{dataset}-{i}" for i in range(N)], labels, probs)


def _record(dataset: str, model: str, seed: int, fingerprint: str = "f" * 64,
            created: str = "2026-01-01T00:00:00Z") -> tuple[RunRecord, pa.Table]:
    table = _predictions(dataset, model, seed)
    labels = np.asarray(table.column("label").to_pylist())
    probs = np.asarray(table.column("probs").to_pylist())
    metrics = {k: {**v.to_dict(), "higher_is_better": True}
               for k, v in score(labels, probs, ("accuracy", "macro_f1")).items()}
    record = RunRecord(key=f"{dataset}-{model}-{seed}-{fingerprint[0]}", benchmark="golden", dataset=dataset,
                       dataset_fingerprint=fingerprint, task="classification", eval_split="test",
                       model=model, model_config={}, config_hash=f"hash-{model}", seed=seed,
                       limit=None, n=N, metrics=metrics, primary_metric="accuracy", created=created)
    return record, table


def _store() -> dict[str, tuple[RunRecord, pa.Table]]:
    pairs = [_record("shapes", m, s) for m in MODELS["shapes"] for s in (0, 1)]
    pairs += [_record("toy", m, 0) for m in MODELS["toy"]]
    # An older build of the dataset: must not mix into the table.
    pairs.append(_record("shapes", "concat-fusion", 9, fingerprint="0" * 64, created="2025-01-01T00:00:00Z"))
    return {r.key: (r, t) for r, t in pairs}


STORE = _store()


def records() -> list[RunRecord]:
    return [r for r, _ in STORE.values()]


def read(record: RunRecord) -> Any:
    return STORE[record.key][1]


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("MMBENCH_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from the golden file (MMBENCH_UPDATE_GOLDEN=1 rewrites)"


def test_markdown_matches_golden_file() -> None:
    _check_golden("leaderboard.md", render_markdown(aggregate(records(), read)))


def test_csv_matches_golden_file() -> None:
    _check_golden("leaderboard.csv", render_csv(aggregate(records(), read)))


def test_rows_pool_seeds_and_rank_by_primary_metric() -> None:
    rows = {(r.dataset, r.model, r.metric): r for r in aggregate(records(), read)}
    fusion = rows[("shapes", "concat-fusion", "accuracy")]
    seeds = [STORE[f"shapes-concat-fusion-{s}-f"][0].metrics["accuracy"]["value"] for s in (0, 1)]
    assert fusion.seeds == 2 and abs(fusion.value - np.mean(seeds)) < 1e-12
    assert fusion.ci_low < min(seeds) and fusion.ci_high > max(seeds)
    markdown = render_markdown(aggregate(records(), read))
    shapes_part = markdown.split("## shapes")[1].split("## toy")[0]
    table = [line for line in shapes_part.splitlines() if line.startswith("| ") and "rank" not in line]
    order = [line.split("|")[2].strip() for line in table]
    assert order == ["concat-fusion", "image-only", "text-only", "majority"]


def test_ties_and_rank_intervals_come_from_paired_tests() -> None:
    rows = {(r.dataset, r.model, r.metric): r for r in aggregate(records(), read)}
    marks = {m: (rows[("shapes", m, "accuracy")].rank_low, rows[("shapes", m, "accuracy")].rank_high,
                 rows[("shapes", m, "accuracy")].tie_with_best) for m in MODELS["shapes"]}
    assert marks == {"concat-fusion": (1, 2, True), "image-only": (1, 2, True),
                     "text-only": (3, 4, False), "majority": (3, 4, False)}
    assert rows[("shapes", "majority", "accuracy")].tests == "paired-bootstrap"  # two seeds: averaged scores
    toy = {m: rows[("toy", m, "accuracy")] for m in MODELS["toy"]}
    assert (toy["strong"].rank_low, toy["strong"].rank_high, toy["strong"].tie_with_best) == (1, 1, True)
    assert (toy["weak"].rank_low, toy["weak"].rank_high, toy["weak"].tie_with_best) == (2, 3, False)
    assert toy["weak"].tests.startswith("mcnemar")  # one seed: 0/1 correctness
    assert rows[("shapes", "majority", "macro_f1")].rank_low is not None  # every metric gets its ranks


def test_without_predictions_there_are_no_rank_intervals() -> None:
    rows = aggregate(records())
    assert all(r.rank_low is None and r.tie_with_best is None for r in rows)
    assert "No paired tests" in render_markdown(rows)
    assert render_csv(rows).splitlines()[1].endswith(",,,")
