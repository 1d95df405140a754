"""`hateful-memes`: Facebook's Hateful Memes challenge release (jsonl + img/ folder).

Each split file holds one JSON object per line: `{"id": 8291, "img": "img/08291.png",
"label": 0|1, "text": "..."}`. The published ids are integers, so they lost the
zero-padding the image names keep; record ids are therefore built from the image
file stem. Test files carry no `label`; those records keep `label=None`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mmbench.adapters import register_adapter
from mmbench.adapters.base import (
    Adapter,
    AdapterError,
    CorpusInfo,
    ImageRef,
    Item,
    is_file,
    json_line_items,
    require_file,
)
from mmbench.schema import make_record

NAME = "hateful-memes"
CLASS_NAMES = ["not-hateful", "hateful"]
# Phase 1 (dev/test) and Phase 2 (dev_seen/dev_unseen/test_seen/test_unseen) file names.
KNOWN_SPLITS = ("train", "dev", "dev_seen", "dev_unseen", "test", "test_seen", "test_unseen")


def _check_row(row: dict[str, Any]) -> str | None:
    """Why a parsed row cannot be used, or None when it is fine."""
    img = row.get("img")
    if not isinstance(img, str) or not img.strip():
        return "missing required field 'img'"
    text = row.get("text")
    if not isinstance(text, str):
        return "missing required field 'text'"
    label = row.get("label")
    # bool is an int subclass; `true` is not a published label.
    if label is not None and (isinstance(label, bool) or label not in (0, 1)):
        return f"unknown label {label!r} (expected 0 or 1)"
    return None


@register_adapter(NAME)
@dataclass
class HatefulMemesAdapter(Adapter):
    """Hateful Memes: meme text + image, binary hateful label."""

    description = "Facebook Hateful Memes (jsonl splits + img/ folder), binary classification"
    version = "1"

    images_required: bool = field(
        default=True,
        metadata={"help": "reject rows whose image file is missing; false keeps them text-only"},
    )

    def _root(self, root: Path) -> Path:
        if not root.is_dir():
            state = "is not a folder" if root.exists() else "does not exist"
            raise AdapterError(f"{NAME}: corpus root {root} {state}")
        return root

    def splits(self, root: Path) -> list[str]:
        found = [s for s in KNOWN_SPLITS if (self._root(root) / f"{s}.jsonl").is_file()]
        if not found:
            names = ", ".join(f"{s}.jsonl" for s in KNOWN_SPLITS)
            raise AdapterError(f"{NAME}: no split file ({names}) in {root}")
        return found

    def info(self, root: Path) -> CorpusInfo:
        return CorpusInfo(class_names=list(CLASS_NAMES), tasks=("classification",))

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        display = f"{split}.jsonl"
        path = require_file(self._root(root) / display, NAME)
        yield from json_line_items(
            path, display, lambda lineno, row: self._record(root, split, display, lineno, row),
            check=_check_row)

    def _record(self, root: Path, split: str, display: str, lineno: int,
                row: dict[str, Any]) -> dict[str, Any]:
        img = row["img"].strip()
        image_path = root / img
        images: list[ImageRef] = []
        if self.images_required or is_file(image_path):
            images.append(ImageRef(name=img, path=image_path))
        meta = {k: v for k, v in row.items() if k not in ("img", "text", "label")}
        meta["img"] = img
        meta["image_missing"] = not images
        # dev_seen and dev_unseen share 400 memes, so the split keeps ids unique.
        return make_record(
            id=f"{split}-{PurePosixPath(img).stem}",
            images=images,
            text=row["text"],
            label=row.get("label"),
            source={"dataset": NAME, "file": display, "locator": f"line {lineno}"},
            meta=meta,
        )
