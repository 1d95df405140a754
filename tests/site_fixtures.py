"""The site built from a small real run, with user strings that are HTML probes, shared by
the site's tests (test_site.py reads it as HTML, test_site_browser.py in Chromium)."""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from mmbench.report.compare import store_reader
from mmbench.report.history import history, runs
from mmbench.report.leaderboard import Board, build, write_board
from mmbench.report.site.pages import DatasetCard
from mmbench.report.site.write import dataset_card, write_site
from mmbench.runner.store import ResultStore, RunRecord

XSS_MODEL = "<img src=x onerror=alert(1)>"
XSS_CARD = "A card with <script>alert('card')</script> and <b onmouseover=alert(2)>bold</b> in it."
XSS_CONFIG = "\"><svg onload=alert(3)>"


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text, of one page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def probed(records: list[RunRecord]) -> list[RunRecord]:
    """The run's records with user-typed strings a page must show as text: the concat-fusion
    model renamed to an HTML probe, with a config value that is one too."""
    return [replace(r, model=XSS_MODEL, model_config={**r.model_config, "note": XSS_CONFIG})
            if r.model == "concat-fusion" else r for r in records]


def card_for(home: Path) -> Any:
    def read(name: str) -> DatasetCard | None:
        card = dataset_card(name, home / "datasets")
        assert card is not None
        return replace(card, prose=card.prose + "\n\n" + XSS_CARD + "\n")

    return read


def make_board(site_run: tuple[Path, Path]) -> tuple[Board, list[RunRecord], Any]:
    """(board, records, predictions reader) of the run, its records probed."""
    _home, store = site_run
    results = ResultStore(store)
    read_store = store_reader(results)
    records = probed(results.records())
    originals = {r.key: r for r in results.records()}

    def read(record: RunRecord) -> Any:
        return read_store(originals[record.key])

    return build(records, read), records, read


def make_site(board: tuple[Board, list[RunRecord], Any], site_run: tuple[Path, Path], out: Path) -> Path:
    """The leaderboard folder written from `board` into `out`: Markdown, CSV and the site."""
    built, records, read = board
    write_board(built, out)
    write_site(built, out, runs(records), history(records, read), card_for(site_run[0]))
    return out


