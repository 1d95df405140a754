"""`flickr-token`: Flickr8k / Flickr30k caption token files plus split lists.

A token file has one caption a line, `<image>.jpg#<n><TAB><caption>` (Flickr8k.token.txt,
results_20130124.token for Flickr30k). Split lists (Flickr_8k.trainImages.txt, ...) name
one image a line. One record per image carries all of its captions in index order.

Images named in no split list are kept in the split `unassigned` (Flickr30k ships no
official split lists, so rejecting them would drop the whole corpus); set
`reject_unlisted` to reject them instead. A split-list line whose image has no caption,
or that repeats an image already listed, is rejected with its file and line.
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
    corpus_file,
    display_path,
    none_found,
    require_file,
    require_root,
    small_int,
)
from mmbench.schema import make_record

NAME = "flickr-token"
UNASSIGNED = "unassigned"
TEXT_DIRS = ("", "Flickr8k_text", "flickr30k")
TOKEN_FILES = ("Flickr8k.token.txt", "results_20130124.token", "results.token")
IMAGE_DIRS = ("Flicker8k_Dataset", "Flickr8k_Dataset", "Images", "flickr30k-images",
              "flickr30k_images", "images")
# Flickr8k calls its validation list "dev"; it becomes the split "val".
SPLIT_LISTS = (("train", "Flickr_8k.trainImages.txt"), ("val", "Flickr_8k.devImages.txt"),
               ("test", "Flickr_8k.testImages.txt"))


@dataclass
class _Image:
    captions: dict[int, tuple[int, str]] = field(default_factory=dict)  # index -> (line, text)


@dataclass
class _Listing:
    """One split list: (line, image) entries and rejections for its bad lines."""

    split: str
    display: str
    entries: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def _find(root: Path, name: str) -> Path | None:
    for folder in TEXT_DIRS:
        path = root / folder / name
        if path.is_file():
            return path
    return None


def _lines(path: Path, display: str) -> Iterator[tuple[int, str | Rejection]]:
    """(line number, text without line ending) per non-blank line; bad UTF-8 -> Rejection."""
    with corpus_file(path).open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                yield lineno, Rejection(display, f"line {lineno}", f"invalid UTF-8: {err}")
                continue
            if text.strip():
                yield lineno, text


def _parse_caption(text: str) -> tuple[str, int, str] | str:
    """(image, index, caption) from a token line, or the reason it is malformed."""
    key, tab, caption = text.partition("\t")
    if not tab:
        return "no TAB between caption id and caption"
    image, hash_, index = key.strip().rpartition("#")
    number = small_int(index)
    if not hash_ or not image or number is None:
        return f"caption id {key!r} is not <image>#<n>"
    if not caption.strip():
        return f"empty caption for {key}"
    return image, number, caption


def _read_tokens(path: Path, display: str) -> tuple[dict[str, _Image], list[Rejection]]:
    images: dict[str, _Image] = {}
    rejected: list[Rejection] = []
    for lineno, text in _lines(path, display):
        parsed = text if isinstance(text, Rejection) else _parse_caption(text)
        if isinstance(parsed, Rejection):
            rejected.append(parsed)
            continue
        if isinstance(parsed, str):
            rejected.append(Rejection(display, f"line {lineno}", parsed))
            continue
        image, index, caption = parsed
        entry = images.setdefault(image, _Image())
        if index in entry.captions:
            first = entry.captions[index][0]
            reason = f"duplicate caption id {image}#{index} (first on line {first})"
            rejected.append(Rejection(display, f"line {lineno}", reason))
            continue
        entry.captions[index] = (lineno, caption)
    return images, rejected


@register_adapter(NAME)
@dataclass
class FlickrTokenAdapter(Adapter):
    """Flickr8k/Flickr30k token files: one record per image with all of its captions."""

    description = "Flickr8k/Flickr30k caption token files (image#n<TAB>caption) and split lists"
    version = "1"

    token_file: str = field(default="", metadata={
        "help": "caption token file relative to root; empty = first of "
                "Flickr8k.token.txt, results_20130124.token, results.token"})
    image_dir: str = field(default="", metadata={
        "help": "image folder relative to root; empty = first existing of "
                "Flicker8k_Dataset, Flickr8k_Dataset, Images, flickr30k-images, images"})
    split_lists: str = field(default="", metadata={
        "help": "split lists as name=file,name=file relative to root; empty = the Flickr_8k."
                "{train,dev,test}Images.txt files that exist (dev becomes val)"})
    reject_unlisted: bool = field(default=False, metadata={
        "help": "reject images named in no split list instead of keeping them in 'unassigned'"})

    def _token_path(self, root: Path) -> Path:
        require_root(root, NAME)
        if self.token_file:
            return require_file(root / self.token_file, NAME)
        for name in TOKEN_FILES:
            found = _find(root, name)
            if found:
                return found
        raise none_found(NAME, root, TOKEN_FILES, "token_file")

    def _image_dir(self, root: Path) -> str:
        if self.image_dir:
            return self.image_dir
        for name in IMAGE_DIRS:
            if (root / name).is_dir():
                return name
        raise AdapterError(f"{NAME}: no image folder under {root} (tried {', '.join(IMAGE_DIRS)};"
                           f" or pass image_dir)")

    def _list_files(self, root: Path) -> list[tuple[str, Path]]:
        if not self.split_lists:
            found = [(split, _find(root, name)) for split, name in SPLIT_LISTS]
            return [(split, path) for split, path in found if path is not None]
        pairs = []
        for part in self.split_lists.split(","):
            split, eq, name = part.partition("=")
            if not eq or not split.strip() or split.strip() == UNASSIGNED:
                raise AdapterError(f"{NAME}: split_lists entry {part!r} is not name=file")
            pairs.append((split.strip(), require_file(root / name.strip(), NAME)))
        return pairs

    def _listings(self, root: Path) -> list[_Listing]:
        listings = []
        for split, path in self._list_files(root):
            listing = _Listing(split, display_path(root, path))
            for lineno, text in _lines(path, listing.display):
                if isinstance(text, Rejection):
                    listing.rejected.append(text)
                else:
                    listing.entries.append((lineno, text.strip()))
            listings.append(listing)
        return listings

    def _load(self, root: Path) -> tuple[str, dict[str, _Image], list[Rejection], list[_Listing]]:
        path = self._token_path(root)
        display = display_path(root, path)
        images, rejected = _read_tokens(path, display)
        return display, images, rejected, self._listings(root)

    def _split_names(self, images: dict[str, _Image], listings: list[_Listing]) -> list[str]:
        names = list(dict.fromkeys(listing.split for listing in listings))
        if self.reject_unlisted and names:
            return names
        listed = {image for listing in listings for _, image in listing.entries}
        if not names or any(image not in listed for image in images):
            names.append(UNASSIGNED)
        return names

    def splits(self, root: Path) -> list[str]:
        _, images, _, listings = self._load(root)
        return self._split_names(images, listings)

    def info(self, root: Path) -> CorpusInfo:
        return CorpusInfo(tasks=("retrieval",))

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        display, images, rejected, listings = self._load(root)
        image_dir = self._image_dir(root)
        first_split = self._split_names(images, listings)[0]
        if split == first_split:
            # Token-file faults belong to no image's split; they are reported once, here.
            yield from rejected
        seen: dict[str, str] = {}  # image -> where it was first listed
        for listing in listings:
            for lineno, image in listing.entries:
                if listing.split != split:
                    seen.setdefault(image, f"{listing.display} line {lineno}")
                    continue
                locator = f"line {lineno}"
                if image in seen:
                    yield Rejection(listing.display, locator,
                                    f"image {image} is already listed at {seen[image]}")
                    continue
                seen[image] = f"{listing.display} line {lineno}"
                if image not in images:
                    yield Rejection(listing.display, locator,
                                    f"image {image} has no captions in {display}")
                else:
                    yield self._record(root, image_dir, display, image, images[image], seen[image])
            if listing.split == split:
                yield from listing.rejected
        for image, entry in images.items():
            if image in seen:
                continue
            if self.reject_unlisted and listings:
                if split == first_split:
                    line = min(line for line, _ in entry.captions.values())
                    yield Rejection(display, f"line {line}", f"image {image} is in no split list")
            elif split == UNASSIGNED:
                yield self._record(root, image_dir, display, image, entry, None)

    def _record(self, root: Path, image_dir: str, display: str, image: str, entry: _Image,
                listed_at: str | None) -> dict[str, Any]:
        order = sorted(entry.captions)
        lines = [entry.captions[i][0] for i in order]
        rel = f"{image_dir}/{image}"
        return make_record(
            id=image,
            images=[ImageRef(name=rel, path=root / rel)],
            captions=[entry.captions[i][1] for i in order],
            source={"dataset": NAME, "file": display, "locator": f"line {min(lines)}"},
            meta={"caption_indices": order, "caption_lines": lines, "listed_at": listed_at},
        )
