"""The generated corpora hold no record twice across splits (the split-leak check).

`shapes` draws every record as an independent random scene, so a leak can only be a
repeat: the same picture (sha256 of the PNG bytes) or the same (question, picture)
pair in two splits. Checked at the default scale, for `shapes` and for the shifted
rendering the default suite scores transfer on; the fingerprints pin the generator, so
the check is about the very bytes the leaderboard is made from. (OpenMoji's check,
no base emoji in two splits, is in tests/adapters/test_openmoji.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mmbench import data
from mmbench.adapters.shapes import ShapesAdapter

BUILDS = {
    "shapes": ({}, "b52b70e4"),
    "shapes-shifted": ({"background": "light", "palette": "muted"}, "f6e67162"),
}


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_no_picture_or_question_picture_pair_in_two_splits(name: str, isolated_home: Path) -> None:
    options, fingerprint = BUILDS[name]
    report = data.build(ShapesAdapter(**options), home=isolated_home, name=name)
    assert report.fingerprint.startswith(fingerprint)
    pictures: dict[str, set[str]] = {}
    pairs: dict[tuple[str, str], set[str]] = {}
    sizes: dict[str, int] = {}
    for split, ds in data.load(name, isolated_home).items():
        columns: dict[str, list[Any]] = ds.to_table(["images", "question"]).to_pydict()
        sizes[split] = len(columns["question"])
        for images, question in zip(columns["images"], columns["question"], strict=True):
            sha = images[0]["sha256"]
            pictures.setdefault(sha, set()).add(split)
            pairs.setdefault((question, sha), set()).add(split)
    assert sizes == {"train": 2000, "val": 500, "test": 1000}
    assert [sha for sha, splits in pictures.items() if len(splits) > 1] == []
    assert [pair for pair, splits in pairs.items() if len(splits) > 1] == []
    # Measured: no picture repeats at all, not even within a split.
    assert len(pictures) == sum(sizes.values())
