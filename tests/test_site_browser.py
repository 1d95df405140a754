"""The leaderboard site in a real headless Chromium, from file:// with nothing fetched: the
index renders (a screenshot), its tables hold the records, clicking a heading reorders the
rows, the filter hides rows, no page logs a console message, and the HTML probes among the
user strings stay text.

The script is driven through the URL fragment (`#click=TABLE:COLUMN`, `#filter=TEXT`): it
clicks the heading's button as a reader would, and --dump-dom shows the DOM after it ran.
CI installs Chromium and sets MMBENCH_REQUIRE_BROWSER=1, so there these tests cannot skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from mmbench.report.leaderboard import ranked
from mmbench.report.site.markup import element_id, slug
from mmbench.report.site.pages import score_tables
from tests.site_fixtures import XSS_MODEL, Elements

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None and not os.environ.get("MMBENCH_REQUIRE_BROWSER"),
                                reason="no Chromium here (CI installs it and sets MMBENCH_REQUIRE_BROWSER)")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000")


def chromium(url: str, *args: str) -> tuple[str, list[str]]:
    """(stdout, console messages) of one headless Chromium run on `url`."""
    assert CHROMIUM is not None, "Chromium is required here (MMBENCH_REQUIRE_BROWSER is set)"
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url],
                              capture_output=True, text=True, timeout=120, check=True)
    return done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


def dom(page: Path, fragment: str = "", *args: str) -> str:
    out, console = chromium(page.as_uri() + fragment, "--dump-dom", *args)
    assert not console, console
    return out


class Rows(HTMLParser):
    """Per table id: each body row's cell texts, data-sort values and whether it is hidden."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.table = ""
        self.in_body = False
        self.cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.table = a.get("id") or ""
        elif tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body:
            self.tables[self.table].append({"cells": [], "sort": [], "hidden": "hidden" in a})
        elif tag in ("td", "th") and self.in_body:
            self.cell = []
            self.tables[self.table][-1]["sort"].append(a.get("data-sort"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self.in_body = False
        elif tag in ("td", "th") and self.cell is not None:
            self.tables[self.table][-1]["cells"].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def _expected(site_board: Any) -> dict[str, list[tuple[str, str]]]:
    """Per table id: (model, ranking value to 3 decimals) in rank order, from the records."""
    out = {}
    for table, rows in score_tables(site_board[0]).items():
        primary = rows[0].metric
        cells: dict[str, dict[str, Any]] = defaultdict(dict)
        for r in rows:
            cells[r.model][r.metric] = r
        out[element_id(*table)] = [(m, f"{cells[m][primary].value:.3f}") for m in ranked(cells, primary)]
    return out


def test_a_screenshot_of_the_index_is_produced(site: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "index.png"
    _, console = chromium((site / "index.html").as_uri(), f"--screenshot={shot}", "--window-size=1280,1600")
    assert not console, console
    with Image.open(shot) as image:
        assert image.size == (1280, 1600)
        grey = image.convert("L")
        assert len(set(grey.tobytes())) > 20  # text and charts drawn, not a blank page


def test_the_index_tables_hold_the_records_in_rank_order(site: Path, site_board: Any) -> None:
    found = Rows(dom(site / "index.html")).tables
    expected = _expected(site_board)
    assert set(found) == set(expected)
    for table_id, models in expected.items():
        rows = found[table_id]
        assert [(r["cells"][1], r["cells"][2].split(" ")[0]) for r in rows] == models
        assert [r["cells"][0] for r in rows] == [str(i) for i in range(1, len(models) + 1)]


def test_clicking_a_heading_reorders_the_rows_and_again_reverses_them(site: Path, site_board: Any) -> None:
    table_id = next(t for t, models in _expected(site_board).items() if len(models) >= 3)
    before = [r["cells"][1] for r in Rows(dom(site / "index.html")).tables[table_id]]
    up = Rows(dom(site / "index.html", f"#click={table_id}:2")).tables[table_id]
    values = [float(r["sort"][2]) for r in up]
    assert values == sorted(values) and [r["cells"][1] for r in up] != before  # ranked best first before
    down = Rows(dom(site / "index.html", f"#click={table_id}:2&click={table_id}:2")).tables[table_id]
    assert [float(r["sort"][2]) for r in down] == sorted(values, reverse=True)
    by_name = Rows(dom(site / "index.html", f"#click={table_id}:1")).tables[table_id]
    names = [r["cells"][1] for r in by_name]
    assert sorted(names) == sorted(before) and names != before


def test_the_filter_hides_the_rows_without_its_text(site: Path) -> None:
    tables = Rows(dom(site / "index.html", "#filter=image-only")).tables
    rows = [r for t in tables.values() for r in t]
    shown = [r for r in rows if not r["hidden"]]
    assert shown and len(shown) < len(rows)
    assert all("image-only" in " ".join(r["cells"]) for r in shown)
    assert all("image-only" not in " ".join(r["cells"]) for r in rows if r["hidden"])


def test_no_page_logs_to_the_console_and_a_broken_asset_would(site: Path, tmp_path: Path) -> None:
    pages = [site / "index.html", site / "datasets.html", site / "models.html", site / "history.html",
             site / "datasets" / f"{slug('shapes')}.html", site / "models" / f"{slug(XSS_MODEL)}.html"]
    for page in pages:
        _, console = chromium(page.as_uri(), "--dump-dom")
        assert not console, (page, console)
    shutil.copytree(site, tmp_path / "broken")  # the detector works: a script error is reported
    script = tmp_path / "broken" / "assets" / "site.js"
    script.write_text(script.read_text() + "\nthrow new Error('probe');\n")
    _, console = chromium((tmp_path / "broken" / "index.html").as_uri(), "--dump-dom")
    assert any("probe" in line for line in console), console


def test_html_probes_in_user_strings_stay_text_in_the_browser(site: Path) -> None:
    for page in (site / "index.html", site / "models" / f"{slug(XSS_MODEL)}.html",
                 site / "datasets" / f"{slug('shapes')}.html"):
        parsed = Elements(dom(page))
        for tag, attrs in parsed.tags:
            assert not [a for a in attrs if a.startswith("on")], (page, tag, attrs)
            assert tag != "img"
            assert tag != "script" or (attrs.get("src") or "").endswith("assets/site.js")
        text = "".join(parsed.text)
        assert XSS_MODEL in text
    card = "".join(Elements(dom(site / "datasets" / f"{slug('shapes')}.html")).text)
    assert "<script>alert('card')</script>" in card
