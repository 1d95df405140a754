"""Fake NLVR2 corpus: JSON-lines splits + images/<split>[/<directory>]/<pair>-img{0,1}.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fakes._images import image_bytes

# split -> rows (identifier, label, training directory or None)
ROWS = {
    "train": [("train-10-0-0", "True", 3), ("train-10-0-1", "False", 3),
              ("train-11-1-0", "False", 7)],
    "dev": [("dev-20-0-0", "False", None), ("dev-20-1-0", "True", None)],
    "test1": [("test1-30-2-0", "True", None)],
}


def row(identifier: str, label: str, directory: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"identifier": identifier, "label": label, "writer": "7",
                           "sentence": f"Both images of {identifier} show a dog.",
                           "synset": "dog", "query": "dogs12", "validation": {"9": label},
                           "left_url": "http://example.org/l.jpg",
                           "right_url": "http://example.org/r.jpg"}
    if directory is not None:
        out["directory"] = directory
    return out


def write_pair(root: Path, identifier: str, directory: int | None, seed: int) -> None:
    split = identifier.split("-")[0]
    folder = root / "images" / split / (str(directory) if directory is not None else "")
    folder.mkdir(parents=True, exist_ok=True)
    pair = identifier.rsplit("-", 1)[0]
    for k in (0, 1):
        (folder / f"{pair}-img{k}.png").write_bytes(image_bytes(seed * 2 + k))


def write_fake(root: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    count = 0
    for split, rows in ROWS.items():
        lines = [json.dumps(row(*r)) for r in rows]
        (root / f"{split}.json").write_text("\n".join(lines) + "\n")
        for seed, (identifier, _, directory) in enumerate(rows, start=count):
            write_pair(root, identifier, directory, seed)
        count += len(rows)
    return count
