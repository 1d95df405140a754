"""HTML building blocks of the site: escaping, file names, the page shell, sortable tables,
Markdown. Every string that reaches a page passes `esc` (or the Markdown renderer, which
turns raw HTML into text): model, dataset, metric and class names, card text and config
values all come from users."""

from __future__ import annotations

import hashlib
import html
import math
import re
from dataclasses import dataclass, field
from typing import Any

ASSETS = "assets"  # the site's folder of stylesheet and script, beside the pages
TITLE = "mmbench leaderboard"


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def slug(name: str) -> str:
    """A file name for a page about `name`: its letters and digits (for people) and a hash of
    the whole (so two names never share a page). Never a path: no separator survives."""
    readable = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "x"
    return f"{readable}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def element_id(*parts: str) -> str:
    """A stable id for an element about `parts` (e.g. a table's dataset, task, training
    corpus): ids are for scripts and links, so they are short and carry no user text."""
    return "t" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:10]


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


@dataclass(frozen=True)
class Cell:
    """One table cell: its (already escaped) HTML, and the value it sorts by (a number, or
    None to sort by its text; missing values sort last either way)."""

    html: str
    sort: float | None = None
    classes: str = ""
    header: bool = False  # a row header (the model's name)

    @staticmethod
    def text(value: object, classes: str = "") -> Cell:
        return Cell(esc(value), classes=classes)

    @staticmethod
    def number(value: float | None, digits: int = 3, classes: str = "") -> Cell:
        finite = value is not None and math.isfinite(value)
        return Cell(fmt(value, digits), value if finite else None, ("num " + classes).strip())


@dataclass
class Table:
    """A table the page script can sort (any column) and filter; plain HTML without it."""

    columns: list[tuple[str, str]]  # (heading, kind: "num" or "text")
    rows: list[list[Cell]] = field(default_factory=list)
    row_classes: list[str] = field(default_factory=list)
    caption: str = ""  # escaped HTML
    table_id: str = ""

    def add(self, cells: list[Cell], classes: str = "") -> None:
        self.rows.append(cells)
        self.row_classes.append(classes)

    def render(self) -> str:
        head = "".join(f'<th scope="col" data-kind="{kind}"' + (' class="num"' if kind == "num" else "")
                       + f">{esc(title)}</th>" for title, kind in self.columns)
        body = []
        for cells, classes in zip(self.rows, self.row_classes, strict=True):
            tds = []
            for c in cells:
                tag = "th scope=\"row\"" if c.header else "td"
                attrs = (f' class="{c.classes}"' if c.classes else "") + \
                    (f' data-sort="{float(c.sort)!r}"' if c.sort is not None else "")
                tds.append(f"<{tag}{attrs}>{c.html}</{tag.split()[0]}>")
            row_attrs = f' class="{classes}"' if classes else ""
            body.append(f"<tr{row_attrs}>{''.join(tds)}</tr>")
        ident = f' id="{self.table_id}"' if self.table_id else ""
        caption = f"<caption>{self.caption}</caption>" if self.caption else ""
        return (f'<div class="table-wrap"><table class="board"{ident}>{caption}<thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(body)}</tbody></table></div>")


def link(href: str, text: str) -> str:
    """A link to one of the site's own pages (`href` is built here, never taken from a user)."""
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def markdown(text: str) -> str:
    """Markdown as HTML, raw HTML in it shown as text (a card may hold anything)."""
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").render(text))


def definitions(items: dict[str, Any]) -> str:
    """A key/value list; values that are not strings are shown as JSON."""
    import json

    def shown(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)

    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(shown(v))}</dd>" for k, v in items.items())
    return f'<dl class="facts">{rows}</dl>'


NAV = (("index.html", "Leaderboard"), ("datasets.html", "Datasets"), ("models.html", "Models"),
       ("history.html", "Run history"))


def page(title: str, body: str, *, root: str, current: str = "", subtitle: str = "") -> str:
    """A whole page. `root` is the relative way back to the site's top ("" or "../"); the
    script only sorts and filters, so the page reads the same without it."""
    nav = "".join(f'<a href="{root}{href}"' + (' aria-current="page"' if href == current else "")
                  + f">{esc(name)}</a>" for href, name in NAV)
    sub = f'<p class="subtitle">{subtitle}</p>' if subtitle else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{esc(title)} · {TITLE}</title>
<link rel="stylesheet" href="{root}{ASSETS}/site.css">
<script src="{root}{ASSETS}/site.js" defer></script>
</head>
<body>
<header class="top"><a class="brand" href="{root}index.html">mmbench</a><nav>{nav}</nav>
<a class="csv" href="{root}leaderboard.csv">CSV</a></header>
<main>
<h1>{esc(title)}</h1>{sub}
{body}
</main>
<footer>Generated by <code>mmbench leaderboard</code> from the result store; every number is in
<a href="{root}leaderboard.csv">leaderboard.csv</a>. Do not edit by hand.</footer>
</body>
</html>
"""


def filter_box(target: str = "all tables") -> str:
    """The filter field; hidden until the script shows it (it does nothing without it)."""
    return (f'<div class="filter" hidden><label>Filter {esc(target)} '
            '<input type="search" id="filter" placeholder="model, metric…" autocomplete="off"></label>'
            '<span class="filter-count" aria-live="polite"></span></div>')
