"""The leaderboard's static site, read as HTML: its pages, what they hold, escaping, local
assets, the section registry, and how it is written into the leaderboard folder. (What a
browser makes of it is tested in test_site_browser.py.)"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mmbench.report.history import history, runs
from mmbench.report.leaderboard import Board, build
from mmbench.report.site import sections
from mmbench.report.site.markup import slug
from mmbench.report.site.pages import score_tables
from mmbench.report.site.write import render_site, write_site
from tests.site_fixtures import XSS_CONFIG, XSS_MODEL, Elements


def test_the_site_has_an_index_and_a_page_per_dataset_and_model(site: Path, site_board: Any) -> None:
    built = site_board[0]
    models = {r.model for r in built.rows}
    assert (site / "index.html").is_file() and (site / "history.html").is_file()
    assert {p.name for p in (site / "models").iterdir()} == {f"{slug(m)}.html" for m in models} | {".mmbench-site"}
    assert {p.name for p in (site / "datasets").iterdir()} == {f"{slug('shapes')}.html", ".mmbench-site"}
    assert sorted(p.name for p in (site / "assets").iterdir()) == [".mmbench-site", "site.css", "site.js"]


def test_every_link_and_asset_is_local_and_exists(site: Path) -> None:
    for page in site.rglob("*.html"):
        for tag, attrs in Elements(page.read_text()).tags:
            for name in ("href", "src"):
                target = attrs.get(name)
                if target is None or target.startswith("#"):
                    continue
                assert not re.match(r"^([a-z]+:)?//", target), (page, tag, target)  # nothing fetched
                assert (page.parent / target.split("#")[0]).resolve().is_file(), (page, target)


def test_the_tables_are_in_the_html_without_the_script(site: Path, site_board: Any) -> None:
    """What a browser without JavaScript shows: every row of every table, no filter box (it
    needs the script) and plain headings (the script makes them buttons)."""
    built = site_board[0]
    raw = (site / "index.html").read_text()
    page = Elements(raw)
    tables = [a for t, a in page.tags if t == "table"]
    assert len(tables) == len(score_tables(built))
    assert raw.count("<tr") - len(tables) == sum(len({r.model for r in rows}) for rows in score_tables(built).values())
    shown = "".join(page.text)
    for rows in score_tables(built).values():
        for r in rows:
            assert r.model in shown  # the (escaped) name appears as text
    filter_div = next(a for tag, a in page.tags if tag == "div" and a.get("class") == "filter")
    assert "hidden" in filter_div and "<button" not in raw


def test_user_strings_are_escaped_on_every_page(site: Path) -> None:
    seen_model = seen_card = seen_config = False
    for path in site.rglob("*.html"):
        raw = path.read_text()
        assert XSS_MODEL not in raw and "<script>alert" not in raw and XSS_CONFIG not in raw
        page = Elements(raw)
        for tag, attrs in page.tags:
            assert tag not in ("img", "svg") or "onload" not in attrs and "onerror" not in attrs
            assert not [a for a in attrs if a.startswith("on")], (path, tag, attrs)
            assert tag != "script" or attrs.get("src", "").endswith("assets/site.js")
        text = "".join(page.text)
        seen_model |= XSS_MODEL in text
        seen_card |= "<script>alert('card')</script>" in text
        seen_config |= XSS_CONFIG in text
    assert seen_model and seen_card and seen_config  # shown, as text


def test_the_dataset_page_has_the_card_statistics_and_every_diagnostic(site: Path) -> None:
    raw = (site / "datasets" / f"{slug('shapes')}.html").read_text()
    sections_shown = re.findall(r'data-section="([a-z-]+)"', raw)
    assert set(sections_shown) >= {"modality", "robustness", "calibration", "efficiency"}
    assert "Measured statistics" in raw and "Health and leakage" in raw
    assert raw.count("<svg") >= 4  # scores, reliance bars, robustness curves, reliability, Pareto


def test_a_registered_section_appears_without_page_changes(site_board: Any, site_run: tuple[Path, Path]) -> None:
    built, records, read = site_board

    @sections.section("probe", "A new diagnostic")
    def probe(board: Board, table: Any) -> str:
        return f"<p>probe for {table[0]}</p>"

    try:
        files = render_site(built, runs(records), [], lambda name: None)
    finally:
        del sections.SECTIONS["probe"]
    page = files[f"datasets/{slug('shapes')}.html"]
    assert 'data-section="probe"' in page and "<p>probe for shapes</p>" in page


def test_a_rewrite_leaves_no_page_of_a_model_that_is_gone(site_board: Any, tmp_path: Path) -> None:
    built, records, read = site_board
    out = tmp_path / "board"
    write_site(built, out, [], [], lambda name: None)
    fewer = build([r for r in records if r.model != "text-only"], read)
    write_site(fewer, out, [], [], lambda name: None)
    assert not (out / "models" / f"{slug('text-only')}.html").exists()
    assert (out / "models" / f"{slug('image-only')}.html").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".site-")]  # no staging left


def test_a_symlinked_site_folder_is_replaced_and_its_target_untouched(site_board: Any, tmp_path: Path) -> None:
    built = site_board[0]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    out = tmp_path / "board"
    out.mkdir()
    (out / "models").symlink_to(elsewhere)
    write_site(built, out, [], [], lambda name: None)
    assert not (out / "models").is_symlink() and (out / "models").is_dir()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"]


def test_the_history_page_lists_runs_and_what_moved(site_board: Any) -> None:
    built, records, read = site_board
    later = [replace(r, key=r.key + "-later", run="20270101T000000Z-later") for r in records]
    both = records + later
    changes = history(both, lambda r: read(next(x for x in records if x.key == r.key.removesuffix("-later"))))
    files = render_site(built, runs(both), changes, lambda name: None)
    page = files["history.html"]
    assert "20270101T000000Z-later" in page and changes
    assert 'class="moved"' not in page  # the same predictions again: nothing moved


def test_a_folder_the_site_did_not_write_is_refused_and_kept(site_board: Any, tmp_path: Path) -> None:
    from mmbench.report.site.write import SiteFolderTaken

    out = tmp_path / "board"
    (out / "datasets").mkdir(parents=True)
    (out / "datasets" / "mine.txt").write_text("a user's own file")
    with pytest.raises(SiteFolderTaken, match="was not written by `mmbench leaderboard`"):
        write_site(site_board[0], out, [], [], lambda name: None)
    assert (out / "datasets" / "mine.txt").read_text() == "a user's own file"
    assert sorted(p.name for p in out.iterdir()) == ["datasets"]  # nothing written, nothing left
    elsewhere = tmp_path / "again"
    write_site(site_board[0], elsewhere, [], [], lambda name: None)
    write_site(site_board[0], elsewhere, [], [], lambda name: None)  # its own folders: replaced
    assert (elsewhere / "datasets" / ".mmbench-site").is_file()
