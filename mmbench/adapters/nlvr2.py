"""`nlvr2`: NLVR2 sentences judged true or false of a pair of web photographs.

The official release has one JSON-lines file per split (`train.json`, `dev.json`,
`test1.json`, later `test2.json`); each line holds an `identifier` such as
`dev-850-0-0`, a `sentence`, a `label` ("True"/"False") and crowd metadata. The
identifier minus its final sentence index names the image pair:
`dev-850-0-img0.png` (left) and `dev-850-0-img1.png` (right), stored under
`images/<split>/`, with training images further spread over numbered folders given
by each row's `directory`. A flat `images/` folder (as in small samples) works too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.adapters import register_adapter
from mmbench.adapters.base import (
    Adapter,
    AdapterError,
    CorpusInfo,
    ImageRef,
    Item,
    Rejection,
    folder_holding,
    json_line_items,
    split_files,
)
from mmbench.schema import make_record

NAME = "nlvr2"
CLASS_NAMES = ["False", "True"]
SPLIT_FILES = {"train": "train.json", "dev": "dev.json", "test1": "test1.json",
               "test2": "test2.json"}
# <split>-<set>-<pair>-<sentence>; the image pair drops the sentence index.
IDENTIFIER = re.compile(r"^(?P<pair>(?P<prefix>[A-Za-z0-9]+)-\d+-\d+)-\d+$")
MAPPED = ("identifier", "sentence", "label")


def _row_problem(row: dict[str, Any]) -> str | None:
    if not isinstance(row.get("sentence"), str) or not row["sentence"].strip():
        return "missing sentence"
    if row.get("label") not in CLASS_NAMES:
        return f"unknown label {row.get('label')!r} (expected one of {CLASS_NAMES})"
    return None


@register_adapter(NAME)
@dataclass
class NLVR2Adapter(Adapter):
    """NLVR2: one record per sentence, with its two images (left, right) in order."""

    description = "NLVR2: is a sentence true of a pair of photographs (binary)"
    version = "1"

    data_dir: str = field(default="",
                          metadata={"help": "folder of the split .json files, relative to root"})
    files: str = field(default="", metadata={
        "help": "comma-separated split=path (JSON-lines files) replacing discovery"})
    image_dir: str = field(default="images",
                           metadata={"help": "image folder relative to root"})

    def _sources(self, root: Path) -> dict[str, Path]:
        if self.files:
            return split_files(root, self.files, NAME)
        base = root / self.data_dir
        found = {s: base / f for s, f in SPLIT_FILES.items() if (base / f).is_file()}
        if not found:
            raise AdapterError(f"{NAME}: none of {sorted(SPLIT_FILES.values())} in {base}")
        return found

    def splits(self, root: Path) -> list[str]:
        return list(self._sources(root))

    def info(self, root: Path) -> CorpusInfo:
        return CorpusInfo(class_names=list(CLASS_NAMES), tasks=("classification",))

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        path = self._sources(root)[split]
        rel = path.relative_to(root).as_posix()
        yield from json_line_items(path, rel, lambda lineno, row: self._record(root, rel, lineno, row))

    def _image_folder(self, root: Path, prefix: str, row: dict[str, Any], first: str) -> str:
        """The folder (relative to root) that holds the pair, trying the known layouts."""
        base = self.image_dir.strip("/")
        candidates = [f"{base}/{prefix}", base]
        if row.get("directory") is not None:
            candidates.insert(0, f"{base}/{prefix}/{row['directory']}")
        found = folder_holding(root, candidates, first)
        # None there: the builder reports the image as missing.
        return candidates[0] if found is None else found

    def _record(self, root: Path, rel: str, lineno: int, row: dict[str, Any]) -> Item:
        locator = f"line {lineno}"
        identifier = row.get("identifier")
        match = IDENTIFIER.match(identifier) if isinstance(identifier, str) else None
        if match is None:
            return Rejection(rel, locator, f"missing or malformed identifier {identifier!r}")
        problem = _row_problem(row)
        if problem is not None:
            return Rejection(rel, locator, problem)
        names = [f"{match['pair']}-img{k}.png" for k in (0, 1)]
        folder = self._image_folder(root, match["prefix"], row, names[0])
        refs = [ImageRef(name=f"{folder}/{n}", path=root / folder / n) for n in names]
        return make_record(
            id=match.string,
            images=refs,
            text=row["sentence"],
            label=CLASS_NAMES.index(row["label"]),
            source={"dataset": NAME, "file": rel, "locator": locator},
            meta={k: v for k, v in row.items() if k not in MAPPED},
        )
