"""Small models and a corpus for the fit-step tests: a nearest-centroid classifier that
counts its fits (with and without save/load) and a colour corpus whose class names and
their order are options, so transfer between corpora can be checked by name."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from mmbench.adapters import ADAPTERS
from mmbench.adapters.base import Adapter, CorpusInfo, ImageRef, Item
from mmbench.loader import Batch, BatchLoader
from mmbench.models import MODELS
from mmbench.models.base import FitReport
from mmbench.schema import make_record

RGB = {"red": (220, 30, 30), "green": (30, 190, 40), "blue": (30, 60, 220), "yellow": (230, 220, 40),
       "purple": (140, 40, 170)}


@dataclass
class NamedColours(Adapter):
    """Solid colour squares labelled with their colour name; `classes` orders the names."""

    name = "fit-test-colours"
    needs_root = False
    classes: str = "red,green,blue,yellow"
    seed: int = 0
    per_class: int = 6

    def splits(self, root: Path) -> list[str]:
        return ["train", "val", "test"]

    def info(self, root: Path) -> CorpusInfo:
        return CorpusInfo(class_names=self.classes.split(","),
                          tasks=("classification", "retrieval", "zero-shot", "linear-probe"))

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        rng = np.random.default_rng((self.seed, ["train", "val", "test"].index(split)))
        names = self.classes.split(",")
        for i in range(self.per_class * len(names)):
            label = i % len(names)
            base = np.clip(np.array(RGB[names[label]]) + rng.integers(-20, 21, size=3), 0, 255)
            out = io.BytesIO()
            Image.fromarray(np.tile(base, (8, 8, 1)).astype(np.uint8)).save(out, format="PNG")
            yield make_record(id=f"{split}-{i}", images=[ImageRef(f"{i}.png", data=out.getvalue())],
                              text="what colour?", captions=[f"a {names[label]} square", names[label]],
                              label=label,
                              source={"dataset": "fit-test-colours", "file": "", "locator": str(i)})


class _Centroids:
    """Mean colour per class; the nearest centroid wins."""

    uses_images: ClassVar[bool] = True
    image_size: ClassVar[int] = 8
    fits: ClassVar[int] = 0  # across instances: how often any was fitted

    def __init__(self, scale: float = 10.0) -> None:
        self.scale = scale
        self.centroids: np.ndarray | None = None

    def config(self) -> dict[str, Any]:
        return {"scale": self.scale}

    def fit(self, train: Any, val: Any, *, num_classes: int, seed: int) -> FitReport:
        type(self).fits += 1
        sums, counts = np.zeros((num_classes, 3)), np.zeros(num_classes)
        for batch in BatchLoader(train, batch_size=64, image_size=self.image_size):
            colours = batch.images.mean(dim=(2, 3)).numpy()
            for colour, label in zip(colours, batch.labels.numpy(), strict=True):
                sums[label] += colour
                counts[label] += 1
        self.centroids = sums / np.maximum(counts, 1)[:, None]
        return FitReport(epochs=1)

    def predict_proba(self, batch: Batch) -> np.ndarray:
        assert self.centroids is not None, "fit() first"
        colours = batch.images.mean(dim=(2, 3)).numpy()
        distance = ((colours[:, None, :] - self.centroids[None]) ** 2).sum(axis=2)
        logits = -self.scale * distance
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        return probs / probs.sum(axis=1, keepdims=True)


class StoredCentroids(_Centroids):
    """Saved and loaded through safetensors, so its fits become artifacts."""

    fits: ClassVar[int] = 0

    def save(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        assert self.centroids is not None
        directory.mkdir(parents=True, exist_ok=True)
        save_file({"centroids": self.centroids}, str(directory / "centroids.safetensors"))

    def load(self, directory: Path) -> None:
        from safetensors.numpy import load_file

        self.centroids = load_file(str(directory / "centroids.safetensors"))["centroids"]


class UnstoredCentroids(_Centroids):
    """No save/load: fitted once per run, its evaluations in the same worker."""

    fits: ClassVar[int] = 0


ENTRIES = ((ADAPTERS, "fit-test-colours", NamedColours), (MODELS, "fit-test-centroids", StoredCentroids),
           (MODELS, "fit-test-unstored", UnstoredCentroids))


@contextmanager
def registered() -> Iterator[None]:
    """The corpus and models above registered for the block only, so that the contract tests
    over every registered adapter and model never meet them."""
    for registry, name, obj in ENTRIES:
        registry.register(name, obj)
    try:
        yield
    finally:
        for registry, name, _ in ENTRIES:
            registry.unregister(name)
