"""Dataset cards: the hand-written card of a corpus plus statistics measured on a build.

A card is `datasets_cards/<name>.md` at the repository root: YAML front matter
(name, source, licence, citation, splits, fields, tasks) and Markdown prose.
`measure()` streams a built dataset's Arrow files batch by batch, reading only the
small columns (never the image bytes into Python), so it runs on corpora of any size.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from mmbench import data
from mmbench.names import check_name

CARDS_DIR = Path(__file__).resolve().parents[2] / "datasets_cards"
TEXT_COLUMNS = ("text", "question", "hypothesis", "captions", "answers", "choices")
COLUMNS = ("label", "images", *TEXT_COLUMNS)


def card_path(name: str) -> Path:
    """Where the card of dataset `name` lives (it may not exist)."""
    return CARDS_DIR / f"{check_name(name, 'dataset name')}.md"


def _split_card(text: str, path: Path) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ValueError(f"{path}: a card must start with a '---' YAML front matter block")
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1:])
    raise ValueError(f"{path}: the front matter is not closed by '---'")


def read_card(name: str) -> tuple[dict[str, Any], str]:
    """(front matter, prose) of the card of `name`; FileNotFoundError names the path."""
    import yaml

    path = card_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"no dataset card for {name!r}: expected {path}")
    head, prose = _split_card(path.read_text(encoding="utf-8"), path)
    front = yaml.safe_load(head)
    if not isinstance(front, dict):
        raise ValueError(f"{path}: the front matter is not a YAML mapping")
    return front, prose


def _spread(values: list[int]) -> dict[str, float] | None:
    """min / median / p95 (nearest rank) / max, or None for no values."""
    if not values:
        return None
    values.sort()
    p95 = values[max(0, math.ceil(0.95 * len(values)) - 1)]
    return {"min": values[0], "median": statistics.median(values), "p95": p95,
            "max": values[-1]}


class _SplitStats:
    def __init__(self) -> None:
        self.rows = 0
        self.labels: Counter[int] = Counter()
        self.unlabelled = 0
        self.tokens: list[int] = []
        self.widths: list[int] = []
        self.heights: list[int] = []
        self.formats: Counter[str] = Counter()
        self.shas: Counter[str] = Counter()

    def add(self, batch: Any) -> None:
        cols = {name: batch.column(name) for name in COLUMNS if name in batch.schema.names}
        self.rows += batch.num_rows
        for label in cols["label"].to_pylist():
            if label is None:
                self.unlabelled += 1
            else:
                self.labels[label] += 1
        for name in TEXT_COLUMNS:
            column = cols.get(name)
            if column is None:
                continue
            values = column.flatten() if name in ("captions", "answers", "choices") else column
            self.tokens += [len(v.split()) for v in values.to_pylist() if v is not None]
        # Only the small struct fields are converted; the bytes child stays in Arrow.
        images = cols["images"].flatten()
        self.widths += images.field("width").to_pylist()
        self.heights += images.field("height").to_pylist()
        self.formats.update(images.field("format").to_pylist())
        self.shas.update(images.field("sha256").to_pylist())


def _scan(paths: list[Path]) -> _SplitStats:
    import pyarrow as pa

    stats = _SplitStats()
    for path in paths:
        with pa.memory_map(str(path)) as source:
            for batch in pa.ipc.open_stream(source):
                stats.add(batch.select([c for c in COLUMNS if c in batch.schema.names]))
    return stats


def _duplicates(per_split: dict[str, _SplitStats]) -> dict[str, Any]:
    within = {split: sum(n - 1 for n in s.shas.values() if n > 1) for split, s in per_split.items()}
    seen: dict[str, list[str]] = {}
    for split, stats in per_split.items():
        for sha in stats.shas:
            seen.setdefault(sha, []).append(split)
    across = {sha: splits for sha, splits in seen.items() if len(splits) > 1}
    return {"within_split": within, "across_splits": len(across),
            "across_examples": [{"sha256": sha, "splits": splits}
                                for sha, splits in sorted(across.items())[:5]]}


def measure(name: str, home: Path | None = None) -> dict[str, Any]:
    """Measured statistics of the built dataset `name` (see the module docstring)."""
    meta = data.info(name, home)
    base = data.dataset_path(name, home)
    raw_info = json.loads((base / "info.json").read_text())
    per_split = {split: _scan(files) for split, files in data.split_files(name, home).items()}
    names = meta.class_names or []
    splits: dict[str, Any] = {}
    for split, s in per_split.items():
        balance = {(names[k] if k < len(names) else str(k)): s.labels[k] for k in sorted(s.labels)}
        splits[split] = {
            "rows": s.rows, "labels": balance, "unlabelled": s.unlabelled,
            "text_tokens": _spread(s.tokens), "images": len(s.widths),
            "width": _spread(s.widths), "height": _spread(s.heights),
            "formats": dict(s.formats.most_common()),
        }
    return {"name": name, "adapter": meta.adapter, "fingerprint": meta.fingerprint,
            "splits": splits, "duplicates": _duplicates(per_split),
            "rejected": int(raw_info.get("ingest", {}).get("rejected", 0))}


def _fmt(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _spread_cells(spread: dict[str, float] | None, keys: tuple[str, ...]) -> list[str]:
    return [_fmt(spread[k]) if spread else "-" for k in keys]


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return out + ["| " + " | ".join(row) + " |" for row in rows]


def render_stats(stats: dict[str, Any]) -> str:
    """The "## Measured statistics" Markdown section for `measure()`'s result."""
    splits = stats["splits"]
    lines = ["## Measured statistics", "",
             f"Measured on the build with fingerprint `{stats['fingerprint'][:16]}`.", "",
             "### Rows per split", ""]
    lines += _table(["split", "rows"], [[s, str(v["rows"])] for s, v in splits.items()])
    # Class order: as first met, split by split (each split's labels are in index order).
    classes = list(dict.fromkeys(c for v in splits.values() for c in v["labels"]))
    if classes:
        lines += ["", "### Label balance", ""]
        rows = []
        for cls in classes:
            cells = [cls]
            for v in splits.values():
                n, total = v["labels"].get(cls, 0), v["rows"]
                cells.append(f"{n} ({100 * n / total:.1f}%)" if total else "0")
            rows.append(cells)
        lines += _table(["class", *splits], rows)
    keys = ("min", "median", "p95", "max")
    lines += ["", "### Text length (whitespace tokens)", ""]
    lines += _table(["split", *keys], [[s, *_spread_cells(v["text_tokens"], keys)]
                                       for s, v in splits.items()])
    lines += ["", "### Images", ""]
    size_keys = ("min", "median", "max")
    rows = [[s, str(v["images"]), "/".join(_spread_cells(v["width"], size_keys)),
             "/".join(_spread_cells(v["height"], size_keys)),
             ", ".join(f"{f} {n}" for f, n in v["formats"].items()) or "-"]
            for s, v in splits.items()]
    lines += _table(["split", "images", "width min/median/max", "height min/median/max",
                     "formats"], rows)
    dup = stats["duplicates"]
    within = ", ".join(f"{s} {n}" for s, n in dup["within_split"].items())
    lines += ["", "### Exact duplicate images (same sha256)", "",
              f"- within a split (extra copies): {within}",
              f"- shared across splits: {dup['across_splits']}"]
    lines += [f"  - `{e['sha256'][:16]}` in {', '.join(e['splits'])}"
              for e in dup["across_examples"]]
    lines += ["", f"Rejected at ingest: {stats['rejected']} input rows "
                  "(listed in the dataset's `rejections.jsonl`).", ""]
    return "\n".join(lines)


def render_card(name: str, home: Path | None = None, *, measured: bool = True) -> str:
    """The card of dataset `name` (or of its adapter), then its measured statistics and its
    health (near-duplicates and train/test leakage, `mmbench.diagnostics.leakage`).

    `measured=False` gives the card alone, which needs no build.
    """
    path = card_path(name)
    if not path.is_file() and data.exists(name, home):  # a renamed build: its adapter's card
        path = card_path(data.info(name, home).adapter)
    read_card(path.stem)  # refuse a missing card or front matter that does not parse
    text = path.read_text(encoding="utf-8").rstrip("\n")
    if not measured:
        return text + "\n"
    from mmbench.diagnostics.leakage import health, render_health

    return f"{text}\n\n{render_stats(measure(name, home))}\n{render_health(health(name, home))}"
