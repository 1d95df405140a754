"""What the embedding tasks (retrieval, zero-shot, linear-probe) share.

A capability check that fails with a TaskError naming what is missing; the contrastive
fit objective (for a model that can learn from image-text pairs; others are used as they
come); batched, L2-normalised image and text embeddings of a split; and the cache that
computes them once for all the tasks evaluating one fitted model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from mmbench.loader import Batch, BatchLoader, primary_text
from mmbench.tasks.base import TRAIN_SPLITS, VAL_SPLITS, TaskError, Training, default_eval_split
from mmbench.tasks.batching import eval_batch_size

TEXT_COLUMNS = ("text", "question", "hypothesis", "captions")


def require(model: Any, task: str, *methods: str) -> None:
    """TaskError unless `model` has every method the task calls."""
    missing = [m for m in methods if not callable(getattr(model, m, None))]
    if missing:
        kind = type(model).__name__
        raise TaskError(f"task {task!r} needs a model with {', '.join(methods)} (a dual encoder); "
                        f"{kind} lacks {', '.join(missing)}")


def contrastive_objective(model: Any) -> str | None:
    """A model with `fit_contrastive` is trained on image-text pairs first, once for every
    embedding task; any other dual encoder is used as it comes (pretrained)."""
    return "contrastive" if callable(getattr(model, "fit_contrastive", None)) else None


def contrastive_training(dataset: Any) -> Training:
    """The train split's image-text pairs, early-stopped on val. Labels are never used, so
    zero-shot stays zero-shot with respect to the classes. The split an evaluation would
    score (`default_eval_split`) is never the validation split."""
    names = list(dataset.keys())
    held_out = default_eval_split(names)
    train = next((n for n in TRAIN_SPLITS if n in names and n != held_out), None)
    if train is None:
        raise TaskError(f"a model trained under the harness (fit_contrastive) needs a train split; "
                        f"the dataset has {names}")
    val = next((n for n in VAL_SPLITS if n in names and n not in (train, held_out)), None)
    return Training("contrastive", dataset[train], dataset[val] if val else None, contrastive=True)


class EmbeddingCache:
    """Image and text embeddings of one fitted model, computed once per split and shared by
    the tasks evaluating it (retrieval, zero-shot and the linear probe read the same ones).
    Keys are the splits' fingerprints, so a derived view is a split of its own."""

    def __init__(self) -> None:
        self.images: dict[str, tuple[list[str], np.ndarray]] = {}
        self.texts: dict[tuple[str, str], np.ndarray] = {}
        self.hits = 0

    def image_embeddings(self, model: Any, split: Any) -> tuple[list[str], np.ndarray]:
        key = split.fingerprint
        if key in self.images:
            self.hits += 1
        else:
            self.images[key] = _embed_images(model, split)
        return self.images[key]

    def text_embeddings(self, model: Any, split: Any, kind: str, texts: list[str]) -> np.ndarray:
        key = (split.fingerprint, kind)
        if key in self.texts:
            self.hits += 1
        else:
            self.texts[key] = embed_texts(model, texts)
        return self.texts[key]


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _own_decoded_batches(model: Any, split: Any, batch_size: int) -> Iterator[Batch]:
    """Batches whose images the model decoded itself from the stored bytes (e.g. CLIP's
    resize + centre crop, which keeps the aspect ratio the square loader would lose)."""
    import torch

    for part in split.iter_tables(batch_size, ("id", "images")):
        cells = part.column("images").to_pylist()
        pixels = [model.decode_image(c[0]["bytes"] if c else None) for c in cells]
        images = torch.from_numpy(np.stack(pixels, dtype=np.float32))  # one copy, not two
        yield Batch(ids=part.column("id").to_pylist(), images=images, texts=[], labels=None)


def image_batches(model: Any, split: Any, batch_size: int | None = None) -> Iterator[Batch]:
    batch_size = batch_size or eval_batch_size(model)
    if callable(getattr(model, "decode_image", None)):
        return _own_decoded_batches(model, split, batch_size)
    size = int(getattr(model, "image_size", 32))
    return iter(BatchLoader(split, batch_size=batch_size, image_size=size, columns=("id", "images"),
                            cache_images=False))


def embed_images(model: Any, split: Any, cache: EmbeddingCache | None = None
                 ) -> tuple[list[str], np.ndarray]:
    """(ids, [N, D] normalised image embeddings) in split order, from `cache` when given."""
    return cache.image_embeddings(model, split) if cache is not None else _embed_images(model, split)


def _embed_images(model: Any, split: Any, batch_size: int | None = None) -> tuple[list[str], np.ndarray]:
    ids: list[str] = []
    parts: list[np.ndarray] = []
    for batch in image_batches(model, split, batch_size):
        ids.extend(batch.ids)
        parts.append(normalise(model.embed_images(batch)))
    if not parts:
        raise TaskError("the evaluation split has no rows")
    return ids, np.concatenate(parts)


def embed_texts(model: Any, texts: list[str], batch_size: int | None = None) -> np.ndarray:
    """[len(texts), D] normalised text embeddings."""
    batch_size = batch_size or eval_batch_size(model)
    parts = [normalise(model.embed_texts(texts[s:s + batch_size])) for s in range(0, len(texts), batch_size)]
    if not parts:
        raise TaskError("no texts to embed")
    return np.concatenate(parts)


def split_texts(split: Any) -> list[str]:
    """The primary text of every row (what a classifier would read), in split order."""
    return [primary_text(row) for row in split.to_table(TEXT_COLUMNS).to_pylist()]


def labels_of(split: Any) -> np.ndarray:
    """Labels in split order, -1 where a row has none."""
    from mmbench.loader import column

    if "label" not in split.column_names:
        return np.full(len(split), -1, dtype=np.int64)
    return np.array([-1 if v is None else v for v in column(split, "label").to_pylist()], dtype=np.int64)

