"""`coco-captions`: MS-COCO caption annotations (captions_{train,val}{2014,2017}.json).

Each annotation file holds `images[]` (id, file_name, ...) and `annotations[]` (id,
image_id, caption). One record per image carries all of its captions, so retrieval can
count any of them as a hit. An annotation whose image_id is not in `images[]` is
rejected with a reason naming the annotation id; an image without captions is kept
and marked in `meta`.
"""

from __future__ import annotations

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
    display_path,
    load_json,
    require_root,
)
from mmbench.schema import make_record

NAME = "coco-captions"
YEARS = ("2017", "2014")  # newest first: `auto` takes the newest year it finds
PARTS = ("train", "val")
ANNOTATION_KEYS = ("id", "image_id", "caption")


def _caption_file(root: Path, part: str, year: str) -> Path | None:
    """The annotation file as unpacked (annotations/...) or placed directly at the root."""
    name = f"captions_{part}{year}.json"
    for path in (root / "annotations" / name, root / name):
        if path.is_file():
            return path
    return None


def _annotation_problem(ann: Any) -> str | None:
    """Why an annotation cannot be used, or None."""
    if not isinstance(ann, dict):
        return "annotation is not a JSON object"
    if not isinstance(ann.get("image_id"), int):
        return "missing or non-integer 'image_id'"
    caption = ann.get("caption")
    if not isinstance(caption, str):
        return "missing or non-string 'caption'"
    if not caption.strip():
        return "empty caption"
    return None


@register_adapter(NAME)
@dataclass
class CocoCaptionsAdapter(Adapter):
    """MS-COCO captions: one record per image with all of its captions."""

    description = "MS-COCO caption annotations, one record per image with all its captions"
    version = "1"

    year: str = field(default="auto", metadata={
        "help": "annotation year to read: 2014, 2017 or auto (the newest year whose files exist)"})
    image_dir: str = field(default="{split}{year}", metadata={
        "help": "image folder relative to root; {split} and {year} are filled in (e.g. val2014)"})

    def _year(self, root: Path) -> str:
        require_root(root, NAME)
        if self.year != "auto":
            if self.year not in YEARS:
                raise AdapterError(f"{NAME}: year must be one of {YEARS} or auto, "
                                   f"got {self.year!r}")
            return self.year
        for year in YEARS:
            if any(_caption_file(root, part, year) for part in PARTS):
                return year
        raise AdapterError(f"{NAME}: no captions_{{train,val}}{{2014,2017}}.json under {root} "
                           f"or {root / 'annotations'}")

    def splits(self, root: Path) -> list[str]:
        year = self._year(root)
        found = [part for part in PARTS if _caption_file(root, part, year)]
        if not found:
            raise AdapterError(f"{NAME}: expected file {root / 'annotations'}/"
                               f"captions_{{train,val}}{year}.json is missing")
        return found

    def info(self, root: Path) -> CorpusInfo:
        return CorpusInfo(tasks=("retrieval",), extra={"year": self._year(root)})

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        year = self._year(root)
        path = _caption_file(root, split, year)
        if path is None:
            raise AdapterError(f"{NAME}: expected file {root / 'annotations'}/"
                               f"captions_{split}{year}.json is missing")
        data = load_json(path, NAME)
        if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
                or not isinstance(data.get("annotations"), list):
            raise AdapterError(f"{NAME}: {path} has no 'images' and 'annotations' lists")
        display = display_path(root, path)
        try:
            image_dir = self.image_dir.format(split=split, year=year)
        except (KeyError, IndexError, ValueError) as err:
            raise AdapterError(f"{NAME}: image_dir {self.image_dir!r} may only use "
                               f"{{split}} and {{year}}: {err}") from err
        images, rejected = _index_images(data["images"], display)
        yield from rejected
        captions, rejected = _group_annotations(data["annotations"], images, display)
        for index, image in images.values():
            yield self._record(root, image_dir, display, year, index, image,
                               captions.get(image["id"], []))
        yield from rejected

    def _record(self, root: Path, image_dir: str, display: str, year: str, index: int,
                image: dict[str, Any], anns: list[dict[str, Any]]) -> dict[str, Any]:
        image_id, file_name = image["id"], image["file_name"]
        meta: dict[str, Any] = {
            "image_id": image_id,
            "year": year,
            "caption_ids": [ann.get("id") for ann in anns],
            "image": {k: v for k, v in image.items() if k not in ("id", "file_name")},
        }
        # Only an annotation with keys beyond id, image_id and caption has extra fields.
        extra = {str(ann.get("id")): {k: v for k, v in ann.items() if k not in ANNOTATION_KEYS}
                 for ann in anns if len(ann) > 3 or "id" not in ann}
        if any(extra.values()):
            meta["annotation_extra"] = {k: v for k, v in extra.items() if v}
        if not anns:
            meta["no_captions"] = True
        rel = f"{image_dir}/{file_name}" if image_dir else file_name
        return make_record(
            id=str(image_id),
            # A string path: cheaper than a Path to build and to hand to a worker.
            images=[ImageRef(name=rel, path=f"{root}/{rel}")],
            captions=[ann["caption"] for ann in anns],
            source={"dataset": NAME, "file": display, "locator": f"images[{index}] id={image_id}"},
            meta=meta,
        )


def _index_images(rows: list[Any], display: str
                  ) -> tuple[dict[int, tuple[int, dict[str, Any]]], list[Rejection]]:
    """Usable images by id (file order kept), and a rejection for each unusable entry."""
    images: dict[int, tuple[int, dict[str, Any]]] = {}
    rejected: list[Rejection] = []
    for index, image in enumerate(rows):
        locator = f"images[{index}]"
        if not isinstance(image, dict) or not isinstance(image.get("id"), int):
            rejected.append(Rejection(display, locator, "image entry has no integer 'id'"))
        elif not isinstance(image.get("file_name"), str) or not image["file_name"]:
            rejected.append(Rejection(display, f"{locator} id={image['id']}",
                                      "image entry has no 'file_name'"))
        elif image["id"] in images:
            reason = f"duplicate image id {image['id']} (first at images[{images[image['id']][0]}])"
            rejected.append(Rejection(display, f"{locator} id={image['id']}", reason))
        else:
            images[image["id"]] = (index, image)
    return images, rejected


def _group_annotations(rows: list[Any], images: dict[int, Any], display: str
                       ) -> tuple[dict[int, list[dict[str, Any]]], list[Rejection]]:
    """Captions per image id in file order; unusable or orphan annotations become rejections."""
    captions: dict[int, list[dict[str, Any]]] = {}
    rejected: list[Rejection] = []
    for index, ann in enumerate(rows):
        # The common case in one test; anything else (bool ids too) takes the full check.
        if type(ann) is dict:
            image_id, caption = ann.get("image_id"), ann.get("caption")
            if type(image_id) is int and image_id in images and type(caption) is str \
                    and caption and not caption.isspace():
                captions.setdefault(image_id, []).append(ann)
                continue
        ann_id = ann.get("id") if isinstance(ann, dict) else None
        locator = f"annotations[{index}] id={ann_id}"
        problem = _annotation_problem(ann)
        if problem is None and ann["image_id"] not in images:
            problem = f"image_id {ann['image_id']} is not in images[]"
        if problem is not None:
            rejected.append(Rejection(display, locator, f"annotation id {ann_id}: {problem}"))
            continue
        captions.setdefault(ann["image_id"], []).append(ann)
    return captions, rejected
