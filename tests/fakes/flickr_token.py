"""Fake Flickr8k corpus: Flickr8k.token.txt, Flickr_8k.*Images.txt, Flicker8k_Dataset/."""

from __future__ import annotations

from pathlib import Path

from tests.fakes._images import jpeg_bytes

CAPTIONS = {
    "1000_aa.jpg": ["A dog runs .", "A brown dog .", "dog", "a dog outside", "running dog"],
    "1001_bb.jpg": ["Two kids play .", "kids"],
    "1002_cc.jpg": ["A man on a bike ."],
    "1003_dd.jpg": ["Sunset ."],
    "1004_ee.jpg": ["Unlisted image ."],  # in no split list -> split 'unassigned'
}
LISTS = {"train": ["1000_aa.jpg", "1001_bb.jpg"], "dev": ["1002_cc.jpg"], "test": ["1003_dd.jpg"]}


def token_lines(captions: dict[str, list[str]]) -> list[str]:
    return [f"{image}#{i}\t{text}" for image, caps in captions.items()
            for i, text in enumerate(caps)]


def write_images(root: Path, names: list[str], folder: str = "Flicker8k_Dataset") -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(names):
        (root / folder / name).write_bytes(jpeg_bytes(seed))


def write_fake(root: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Flickr8k.token.txt").write_text("\n".join(token_lines(CAPTIONS)) + "\n")
    for split, names in LISTS.items():
        (root / f"Flickr_8k.{split}Images.txt").write_text("".join(f"{n}\n" for n in names))
    write_images(root, list(CAPTIONS))
    return len(CAPTIONS)
