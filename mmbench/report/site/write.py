"""Write the site into the leaderboard folder: the top pages beside README.md and
leaderboard.csv, the per-dataset and per-model pages and the assets in folders of their own,
each folder built aside and swapped in whole (no page of a model that is gone stays behind).
A folder of that name that the site did not write (no MARKER file in it) is never replaced:
the leaderboard folder may be one a user also keeps other things in."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from mmbench.report.history import Change, Run
from mmbench.report.leaderboard import Board, replace_file
from mmbench.report.site import pages
from mmbench.report.site.markup import ASSETS, slug

CardReader = Callable[[str], "pages.DatasetCard | None"]
STATIC = ("site.css", "site.js")
MARKER = ".mmbench-site"  # in every folder the site writes: the folders it may replace


class SiteFolderTaken(FileExistsError):
    """The leaderboard folder holds a folder the site would replace but did not write."""


def render_site(board: Board, runs: list[Run], changes: list[Change],
                card_for: CardReader) -> dict[str, str]:
    """Relative path -> text of every file of the site."""
    tables = pages.score_tables(board)
    files = {"index.html": pages.index_page(board), "datasets.html": pages.datasets_page(board),
             "models.html": pages.models_page(board), "history.html": pages.history_page(runs, changes)}
    for name in sorted({t[0] for t in tables}):
        files[f"{pages.DATASETS}/{slug(name)}.html"] = pages.dataset_page(board, name, card_for(name))
    for model in sorted({r.model for rows in tables.values() for r in rows}):
        files[f"{pages.MODELS}/{slug(model)}.html"] = pages.model_page(board, model)
    static = resources.files("mmbench.report.site") / "static"
    for asset in STATIC:
        files[f"{ASSETS}/{asset}"] = (static / asset).read_text(encoding="utf-8")
    return files


def write_site(board: Board, out_dir: Path, runs: list[Run], changes: list[Change],
               card_for: CardReader) -> list[Path]:
    from mmbench.paths import inside, make_dir, remove_tree

    files = render_site(board, runs, changes, card_for)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    folders = sorted({p.split("/")[0] for p in files if "/" in p})
    for folder in folders:  # before any write: refuse, and leave everything as it was
        target = out_dir / folder
        if target.is_dir() and not target.is_symlink() and any(target.iterdir()) \
                and not (target / MARKER).is_file():
            raise SiteFolderTaken(f"{target} exists and was not written by `mmbench leaderboard` (no {MARKER} "
                                  f"in it): move it, or write the leaderboard into another folder")
    staging = inside(Path(tempfile.mkdtemp(dir=out_dir, prefix=".site-")), out_dir, "site staging folder")
    try:
        for rel, text in [*files.items(), *((f"{folder}/{MARKER}", "") for folder in folders)]:
            if "/" not in rel:
                continue
            path = inside(staging / rel, staging, "site page")
            make_dir(path.parent, staging, "site folder")
            path.write_text(text, encoding="utf-8")
        for folder in folders:
            target = inside(out_dir / folder, out_dir, "site folder")
            old = inside(staging / f"{folder}.old", staging, "old site folder")
            if target.exists() or target.is_symlink():  # the site's own folder, or a symlink (unlinked)
                os.replace(target, old)
            os.replace(inside(staging / folder, staging, "site folder"), target)
            written += [out_dir / rel for rel in files if rel.startswith(folder + "/")]
        for rel, text in files.items():  # the top pages last: they link into the folders
            if "/" not in rel:
                replace_file(out_dir / rel, text, out_dir)
                written.append(out_dir / rel)
    finally:
        remove_tree(staging, out_dir, "site staging folder")
    return written


def dataset_card(name: str, home: Path | None = None) -> pages.DatasetCard | None:
    """The card of `name` (or of the adapter its build came from) and, when its build is in
    the dataset home, its measured statistics and health; None when there is no card."""
    from mmbench import data
    from mmbench.names import is_name
    from mmbench.report.cards import card_path, read_card

    if not is_name(name):
        return None
    built = data.exists(name, home)
    card = name if card_path(name).is_file() or not built else data.info(name, home).adapter
    if not card_path(card).is_file():
        return None
    front, prose = read_card(card)
    measured = ""
    if built:
        from mmbench.diagnostics.leakage import health, render_health
        from mmbench.report.cards import measure, render_stats

        measured = f"{render_stats(measure(name, home))}\n{render_health(health(name, home))}"
    return pages.DatasetCard(front, prose, measured)
