"""`karpathy`: the Karpathy-split caption files (dataset_coco/flickr8k/flickr30k.json).

Each file is `{"dataset": ..., "images": [...]}`; an image has `filename`, an optional
`filepath` (COCO: train2014 / val2014), `split` (train, restval, val, test) and
`sentences[]` whose `raw` is the caption as written. One record per image carries all
of its raw captions; the tokens and ids go into `meta`. `fold_restval` moves the COCO
restval images into train (the usual 113k-image Karpathy train split).
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
    folder_holding,
    is_plain_name,
    load_json,
    none_found,
    require_file,
    require_root,
)
from mmbench.schema import make_record

NAME = "karpathy"
JSON_FILES = ("dataset_coco.json", "dataset_flickr30k.json", "dataset_flickr8k.json")
SPLIT_ORDER = ("train", "restval", "val", "test")
# Where the images usually sit next to the json; the first folder holding the first
# image wins when image_dir is not given.
IMAGE_DIRS = ("", "images", "Images", "flickr30k-images", "Flicker8k_Dataset", "Flickr8k_Dataset")
IMAGE_KEYS = ("filepath", "filename", "split", "sentences")
SENTENCE_KEYS = ("raw", "tokens", "sentid", "imgid")


def _relpath(image: dict[str, Any]) -> str:
    filepath = image.get("filepath")
    return f"{filepath}/{image['filename']}" if filepath else str(image["filename"])


def _problem(image: Any) -> str | None:
    """Why an image entry cannot be used, or None."""
    if not isinstance(image, dict):
        return "image entry is not a JSON object"
    if not isinstance(image.get("filename"), str) or not image["filename"]:
        return "missing 'filename'"
    if "filepath" in image and not isinstance(image["filepath"], str):
        return "'filepath' is not a string"
    if not isinstance(image.get("split"), str) or not image["split"]:
        return "missing 'split'"
    if not is_plain_name(image["split"]):
        return f"split {image['split']!r} is not a plain name (letters, digits, '_', '-')"
    sentences = image.get("sentences")
    if not isinstance(sentences, list):
        return "missing 'sentences' list"
    for i, sentence in enumerate(sentences):
        if not isinstance(sentence, dict) or not isinstance(sentence.get("raw"), str):
            return f"sentences[{i}] has no 'raw' string"
    return None


@register_adapter(NAME)
@dataclass
class KarpathyAdapter(Adapter):
    """Karpathy-split COCO / Flickr8k / Flickr30k captions, one record per image."""

    description = "Karpathy-split caption json (dataset_coco/flickr8k/flickr30k.json)"
    version = "1"

    json_file: str = field(default="", metadata={
        "help": "the Karpathy json relative to root; empty = the one of dataset_coco.json, "
                "dataset_flickr30k.json, dataset_flickr8k.json that exists"})
    image_dir: str = field(default="", metadata={
        "help": "folder (relative to root) that filepath/filename are relative to; "
                "empty = auto (root, images, Images, flickr30k-images, Flicker8k_Dataset)"})
    fold_restval: bool = field(default=False, metadata={
        "help": "put restval images into train (the usual Karpathy COCO train split)"})

    def _json_path(self, root: Path) -> Path:
        require_root(root, NAME)
        if self.json_file:
            return require_file(root / self.json_file, NAME)
        found = [root / name for name in JSON_FILES if (root / name).is_file()]
        if not found:
            raise none_found(NAME, root, JSON_FILES, "json_file")
        if len(found) > 1:
            raise AdapterError(f"{NAME}: several Karpathy files in {root} "
                               f"({', '.join(p.name for p in found)}); pass json_file")
        return found[0]

    def _load(self, root: Path) -> tuple[str, dict[str, Any]]:
        path = self._json_path(root)
        data = load_json(path, NAME)
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise AdapterError(f"{NAME}: {path} has no 'images' list")
        return display_path(root, path), data

    def _split(self, image: dict[str, Any]) -> str:
        split = str(image["split"])
        return "train" if self.fold_restval and split == "restval" else split

    def splits(self, root: Path) -> list[str]:
        return self._split_names(self._load(root)[1]["images"])

    def _split_names(self, images: list[Any]) -> list[str]:
        found = {self._split(image) for image in images if _problem(image) is None}
        ordered = [s for s in SPLIT_ORDER if s in found] + sorted(found - set(SPLIT_ORDER))
        return ordered or ["train"]  # broken entries still need a split to be reported in

    def info(self, root: Path) -> CorpusInfo:
        return CorpusInfo(tasks=("retrieval",))

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        display, data = self._load(root)
        images = data["images"]
        first_split = self._split_names(images)[0]
        image_dir = self._image_dir(root, images)
        for index, image in enumerate(images):
            problem = _problem(image)
            if problem is not None:
                # An entry without a usable split is reported once, in the first split.
                if split == first_split:
                    yield Rejection(display, f"images[{index}]", problem)
            elif self._split(image) == split:
                yield self._record(root, image_dir, display, index, image,
                                   str(data.get("dataset", "")))

    def _image_dir(self, root: Path, images: list[Any]) -> str:
        if self.image_dir:
            return self.image_dir
        sample = next((img for img in images if _problem(img) is None), None)
        if sample is None:
            return ""
        return folder_holding(root, IMAGE_DIRS, _relpath(sample)) or ""

    def _record(self, root: Path, image_dir: str, display: str, index: int,
                image: dict[str, Any], dataset: str) -> dict[str, Any]:
        rel = _relpath(image)
        name = f"{image_dir}/{rel}" if image_dir else rel
        sentences = image["sentences"]
        meta: dict[str, Any] = {
            "dataset": dataset,
            "karpathy_split": image["split"],
            "filepath": image.get("filepath"),
            "tokens": [s.get("tokens") for s in sentences],
            "sentids": [s.get("sentid") for s in sentences],
            "image": {k: v for k, v in image.items() if k not in IMAGE_KEYS},
        }
        extra = [{k: v for k, v in s.items() if k not in SENTENCE_KEYS} for s in sentences]
        if any(extra):
            meta["sentence_extra"] = extra
        if not sentences:
            meta["no_captions"] = True
        return make_record(
            id=rel,
            images=[ImageRef(name=name, path=root / name)],
            captions=[s["raw"] for s in sentences],
            source={"dataset": NAME, "file": display, "locator": f"images[{index}]"},
            meta=meta,
        )
