"""Every registered dataset has a card, and a rendered card reports true statistics."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mmbench import data
from mmbench.adapters import ADAPTERS
from mmbench.adapters.shapes import ShapesAdapter
from mmbench.report.cards import CARDS_DIR, card_path, measure, read_card, render_card
from tests.fakes._images import image_bytes

KEYS = {"name", "source", "licence", "citation", "splits", "fields", "tasks"}
KNOWN_TASKS = {"classification", "visual-entailment", "vqa", "multiple-choice", "retrieval",
               "zero-shot", "linear-probe"}


def _check_card(name: str) -> dict[str, Any]:
    path = card_path(name)
    assert path.is_file(), f"write a dataset card at {path}"
    front, prose = read_card(name)
    assert set(front) >= KEYS, f"{path} lacks {sorted(KEYS - set(front))}"
    assert front["name"] == path.stem == name
    assert isinstance(front["splits"], list) and front["splits"]
    assert isinstance(front["fields"], list) and front["fields"]
    assert set(front["tasks"]) <= KNOWN_TASKS, sorted(set(front["tasks"]) - KNOWN_TASKS)
    assert prose.strip().startswith("#")
    return front


@pytest.mark.parametrize("name", ADAPTERS.names())
def test_every_dataset_has_a_card(name: str) -> None:
    _check_card(name)


CARD_NAMES = sorted(p.stem for p in CARDS_DIR.glob("*.md"))


@pytest.mark.parametrize("name", [n for n in CARD_NAMES if n not in ADAPTERS.names()])
def test_a_card_of_a_built_variant_names_its_adapter_and_options(name: str) -> None:
    """A card for a dataset that is not an adapter's own (`shapes-shifted`) is held to the same
    rules, and says how it is built: an adapter and options that adapter accepts."""
    front = _check_card(name)
    assert front.get("adapter") in ADAPTERS.names(), f"{card_path(name)}: 'adapter' names no adapter"
    options = front.get("options", {})
    assert isinstance(options, dict)
    ADAPTERS.get(front["adapter"])(**options)  # unknown or bad options raise


def test_missing_card_names_the_path() -> None:
    with pytest.raises(FileNotFoundError, match="no-such-dataset.md"):
        read_card("no-such-dataset")


def _table_rows(text: str, title: str) -> dict[str, list[str]]:
    """First-column -> other cells of the Markdown table under heading `title`."""
    section = text.split(f"### {title}\n", 1)[1].split("\n### ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("|")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[2:]}


def test_render_card_counts_rows_and_labels(isolated_home: Path) -> None:
    data.build(ShapesAdapter(scale=0.02), home=isolated_home)
    text = render_card("shapes", isolated_home)
    assert text.startswith(card_path("shapes").read_text(encoding="utf-8").rstrip("\n"))
    assert "## Measured statistics" in text
    # Independent count straight from the Arrow dataset.
    loaded = data.load("shapes", isolated_home)
    rows = _table_rows(text, "Rows per split")
    balance = _table_rows(text, "Label balance")
    for split, ds in loaded.items():
        assert rows[split] == [str(len(ds))]
        counts = Counter(ds["label"])
        column = list(loaded).index(split)
        for label, cls in enumerate(["no", "yes"]):
            expected = f"{counts[label]} ({100 * counts[label] / len(ds):.1f}%)"
            assert balance[cls][column] == expected
    assert sum(len(ds) for ds in loaded.values()) == 40 + 10 + 20  # 2% of 2000 / 500 / 1000


def test_render_card_reports_duplicate_images(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "corpus"
    same = image_bytes(7)
    for rel in ("train/cat/a.png", "train/cat/a-copy.png", "train/dog/b.png", "test/c.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(image_bytes(9) if rel.endswith("b.png") else same)
    rows = [{"file_name": "c.png", "label": "cat"}]
    (root / "test" / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    data.build(ADAPTERS.get("imagefolder")(), root, home=isolated_home, name="dups")
    stats = measure("dups", isolated_home)
    assert stats["duplicates"]["within_split"] == {"train": 1, "test": 0}
    assert stats["duplicates"]["across_splits"] == 1
    text = render_card("dups", isolated_home)  # falls back to the imagefolder card
    assert text.startswith("---\nname: imagefolder")
    assert "- within a split (extra copies): train 1, test 0" in text
    assert "- shared across splits: 1" in text
    assert re.search(r"`[0-9a-f]{16}` in train, test", text)


def test_card_alone_needs_no_build() -> None:
    text = render_card("shapes", measured=False)
    assert text == card_path("shapes").read_text(encoding="utf-8").rstrip("\n") + "\n"
    assert "## Measured statistics" not in text


def test_card_statistics_do_not_depend_on_shards(isolated_home: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    data.build(ShapesAdapter(scale=0.02), home=isolated_home / "one")
    monkeypatch.setattr(data, "CHUNK_ROWS", 3)
    data.build(ShapesAdapter(scale=0.02), home=isolated_home / "many")
    assert len(data.split_files("shapes", isolated_home / "many")["train"]) == 14  # 40 rows
    assert measure("shapes", isolated_home / "one") == measure("shapes", isolated_home / "many")
