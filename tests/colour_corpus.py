"""A tiny synthetic image-caption corpus for the embedding tests.

Each image is a jittered solid colour with a darker square in a random place; its
captions name the colour in a few wordings; its label is the colour. A dual encoder
learns it in a few epochs, so tests can assert better-than-chance retrieval and
zero-shot accuracy without a large training budget.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmbench import data
from mmbench.adapters.base import Adapter, CorpusInfo, ImageRef, Item
from mmbench.schema import make_record

COLOURS = {"red": (220, 30, 30), "green": (30, 190, 40), "blue": (30, 60, 220), "yellow": (230, 220, 40)}
WORDINGS = ("a {} square", "{}", "a picture that is mostly {}")
SIZES = {"train": 96, "val": 16, "test": 40}


def png(rgb: tuple[int, int, int], rng: np.random.Generator, size: int = 16) -> bytes:
    base = np.clip(np.array(rgb) + rng.integers(-25, 26, size=3), 0, 255)
    pixels = np.tile(base, (size, size, 1)).astype(np.uint8)
    top, left = rng.integers(0, size // 2, size=2)
    pixels[top:top + size // 3, left:left + size // 3] //= 2
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@dataclass
class ColourAdapter(Adapter):
    name = "colours"
    needs_root = False
    seed: int = 0

    def splits(self, root: Path) -> list[str]:
        return list(SIZES)

    def info(self, root: Path) -> CorpusInfo:
        return CorpusInfo(class_names=list(COLOURS), tasks=("retrieval", "zero-shot", "linear-probe"))

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        rng = np.random.default_rng((self.seed, list(SIZES).index(split)))
        names = list(COLOURS)
        for i in range(SIZES[split]):
            label = i % len(names)
            captions = [w.format(names[label]) for w in WORDINGS]
            yield make_record(id=f"{split}-{i}", images=[ImageRef(f"{i}.png", data=png(COLOURS[names[label]], rng))],
                              text=captions[0], captions=captions, label=label,
                              source={"dataset": "colours", "file": "", "locator": str(i)})


def build() -> tuple[Any, Any]:
    """(DatasetInfo, DatasetDict) of the colour corpus, built in the test's MMBENCH_HOME."""
    if not data.exists("colours"):
        data.build(ColourAdapter())
    return data.info("colours"), data.load("colours")


TINY_TRAIN = {"epochs": 6, "batch_size": 32, "lr": 3e-3, "min_epochs": 6, "patience": 6}
TINY_CLIP = {"image_size": 16, "text_encoder": "bag", "image_dim": 32, "width": 8, "proj_dim": 32,
             "train": TINY_TRAIN}
