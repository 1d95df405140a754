"""The one data path from Arrow to tensors.

Reads Arrow record batches (only the columns a model needs), decodes and resizes
images per batch, and yields `Batch`es. Nothing larger than one batch is ever
materialised as Python objects, so memory stays flat as a dataset grows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmbench.split import Split

COLUMNS = ("id", "images", "text", "question", "hypothesis", "captions", "label")


@dataclass
class Batch:
    ids: list[str]
    images: Any  # torch.FloatTensor [B, 3, S, S] in [0, 1], or None when not decoded
    texts: list[str]
    labels: Any  # torch.LongTensor [B] (-1 where unlabeled), or None

    def __len__(self) -> int:
        return len(self.ids)

    def head(self, rows: int) -> Batch:
        """The batch's first `rows` rows, copied (a view would keep the whole batch alive)."""
        return Batch(self.ids[:rows], None if self.images is None else self.images[:rows].clone(),
                     self.texts[:rows], None if self.labels is None else self.labels[:rows].clone())


def primary_text(row: dict[str, Any]) -> str:
    """The text a classifier reads: text, else question, else hypothesis, else a caption."""
    for key in ("text", "question", "hypothesis"):
        if row.get(key):
            return str(row[key])
    captions = row.get("captions") or []
    return str(captions[0]) if captions else ""


def first_image_values(images: Any, field: str) -> list[Any]:
    """`field` of each row's first image (None for a row without one) from a list<struct>
    column, chunk by chunk: no row dicts, no copy of the column's bytes."""
    out: list[Any] = []
    for chunk in images.chunks if hasattr(images, "chunks") else [images]:
        offsets = chunk.offsets.to_numpy()
        values = chunk.values.field(field)
        out += [values[int(offsets[i])].as_py() if offsets[i + 1] > offsets[i] else None
                for i in range(len(chunk))]
    return out


def first_image_bytes(images: Any) -> list[bytes | None]:
    """The first image's bytes per row of a list<struct> column."""
    return first_image_values(images, "bytes")


def _decode_images(blobs: list[bytes | None], size: int) -> Any:
    import torch

    from mmbench.images import decode_rgb

    out = np.zeros((len(blobs), size, size, 3), dtype=np.uint8)
    for i, blob in enumerate(blobs):
        if blob is not None:  # a record without an image stays black
            out[i] = np.asarray(decode_rgb(blob, size))
    # numpy does the layout change and scaling: torch's threaded kernels on a small strided
    # tensor cost more in thread wake-ups than the work itself on a busy 2-core machine.
    chw = np.ascontiguousarray(out.transpose(0, 3, 1, 2), dtype=np.float32)
    chw *= np.float32(1 / 255)
    return torch.from_numpy(chw)


def to_batch(table: Any, image_size: int | None) -> Batch:
    """Arrow table slice -> Batch."""
    import torch

    columns = set(table.column_names)
    ids = table.column("id").to_pylist()
    text_cols = [c for c in ("text", "question", "hypothesis", "captions") if c in columns]
    text_rows = table.select(text_cols).to_pylist()
    texts = [primary_text(r) for r in text_rows]
    images = None
    if image_size is not None and "images" in columns:
        images = _decode_images(first_image_bytes(table.column("images")), image_size)
    labels = None
    if "label" in columns:
        raw = table.column("label").to_pylist()
        labels = torch.tensor([-1 if v is None else v for v in raw], dtype=torch.long)
    return Batch(ids=ids, images=images, texts=texts, labels=labels)


# Decoded images kept across epochs, per loader, when the whole split fits in this many
# bytes (a 2,000-image split at 32 px is 25 MB): decoding every epoch again was a tenth
# of a small model's training time, and a decoded image is the same tensor every time.
IMAGE_CACHE_BYTES = 256 << 20


class _IndexedBatches:
    """Map-style view: item k is batch k; picklable for worker processes."""

    def __init__(self, dataset: Split, order: np.ndarray, batch_size: int, image_size: int | None,
                 columns: tuple[str, ...], cache: dict[int, np.ndarray] | None = None):
        self.dataset = dataset
        self.order = order
        self.batch_size = batch_size
        self.image_size = image_size
        self.columns = columns
        self.cache = cache  # split row -> decoded [3, S, S] image

    def __len__(self) -> int:
        return (len(self.order) + self.batch_size - 1) // self.batch_size

    def __getitem__(self, k: int) -> Batch:
        idx = self.order[k * self.batch_size:(k + 1) * self.batch_size]
        part = self.dataset.rows_at(idx, self.columns)
        if self.cache is None or self.image_size is None:
            return to_batch(part, self.image_size)
        return self._cached(part, idx)

    def _cached(self, part: Any, rows: np.ndarray) -> Batch:
        import torch

        assert self.cache is not None
        if all(int(r) in self.cache for r in rows):
            batch = to_batch(part.drop_columns(["images"]) if "images" in part.column_names else part, None)
            batch.images = torch.from_numpy(np.stack([self.cache[int(r)] for r in rows]))
            return batch
        batch = to_batch(part, self.image_size)
        if batch.images is not None:
            for r, image in zip(rows, batch.images.numpy(), strict=True):
                self.cache[int(r)] = image.copy()
        return batch


def column(split: Split, name: str) -> Any:
    """One column of a split as a pyarrow array, in split order."""
    return split.column(name)


def _identity(batch: Any) -> Any:
    return batch


class BatchLoader:
    """Iterate a split (`mmbench.split.Split`) as Batches, optionally shuffled per epoch."""

    def __init__(self, dataset: Split, *, batch_size: int = 64, image_size: int | None = 32,
                 shuffle: bool = False, seed: int = 0, num_workers: int = 0,
                 columns: tuple[str, ...] = COLUMNS, cache_images: bool = True) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.image_size = image_size
        self.shuffle = shuffle
        self.seed = seed
        self.num_workers = num_workers
        self.columns = columns
        self.epoch = 0
        # `cache_images=False` for a single pass (an evaluation): a cache would only hold memory.
        fits = cache_images and image_size is not None and \
            len(dataset) * 3 * image_size * image_size * 4 <= IMAGE_CACHE_BYTES
        # Only in this process: worker processes would each fill a copy of their own.
        self.image_cache: dict[int, np.ndarray] | None = {} if fits and num_workers <= 0 else None

    def __len__(self) -> int:
        return (len(self.dataset) + self.batch_size - 1) // self.batch_size

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng((self.seed, self.epoch)).permutation(n)

    def __iter__(self) -> Iterator[Batch]:
        view = _IndexedBatches(self.dataset, self._order(), self.batch_size, self.image_size,
                               self.columns, self.image_cache)
        self.epoch += 1
        if self.num_workers <= 0:
            for k in range(len(view)):
                yield view[k]
            return
        from torch.utils.data import DataLoader

        loader: Any = DataLoader(view, batch_size=None,  # type: ignore[arg-type]
                                 num_workers=self.num_workers, collate_fn=_identity)
        yield from loader
