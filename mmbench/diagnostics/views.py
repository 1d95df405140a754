"""Evaluation views: what an evaluate step shows a fitted model of its split.

`clean` is the split as stored. `permute-images:seed=S` and `permute-texts:seed=S` break
the pairing within the split: every row gets the image (or the texts) of another row,
by a seeded permutation without fixed points, while its id, label and the other modality
stay. Only the permuted columns are new memory (the eval split's images, taken in the
permuted order); nothing is written to disk. The view string, seed included, is part of
the record key and stored in the record, so each view has its own predictions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CLEAN = "clean"
PERMUTATIONS = ("permute-images", "permute-texts")
KINDS = (CLEAN, *PERMUTATIONS)
TEXT_INPUTS = ("text", "question", "hypothesis", "captions")  # what the loader reads as text
DEFAULT_SEED = 0


class ViewError(ValueError):
    pass


def view_name(kind: str, seed: int = DEFAULT_SEED) -> str:
    """The canonical view string ("clean", or "<kind>:seed=<seed>")."""
    if kind not in KINDS:
        raise ViewError(f"unknown view {kind!r} (known: {', '.join(KINDS)})")
    return CLEAN if kind == CLEAN else f"{kind}:seed={seed}"


def parse_view(view: str) -> tuple[str, int]:
    """(kind, seed) of a view string; ViewError naming it when it is not one."""
    kind, _, rest = view.partition(":")
    if kind == CLEAN and not rest:
        return CLEAN, DEFAULT_SEED
    if kind in PERMUTATIONS and rest.startswith("seed=") and rest[5:].isdigit():
        return kind, int(rest[5:])
    raise ViewError(f"unknown view {view!r} (known: clean, permute-images:seed=N, permute-texts:seed=N)")


def derangement(n: int, seed: int) -> np.ndarray:
    """A seeded permutation of range(n) with no fixed point (the identity when n < 2):
    row order[i] takes the value of row order[i + 1] of a seeded shuffle, cyclically."""
    order = np.random.default_rng(seed).permutation(n)
    out = np.arange(n)
    if n >= 2:
        out[order] = np.roll(order, -1)
    return out


def permuted_columns(split: Any, kind: str) -> list[str]:
    """The columns `kind` permutes in `split`."""
    if kind == "permute-images":
        return [c for c in ("images",) if c in split.column_names]
    return [c for c in TEXT_INPUTS if c in split.column_names]


def apply_view(split: Any, view: str) -> Any:
    """`split` as `view` shows it (the same object for `clean`)."""
    from mmbench.loader import column
    from mmbench.tasks.views import with_columns

    kind, seed = parse_view(view)
    if kind == CLEAN:
        return split
    names = permuted_columns(split, kind)
    if not names:
        raise ViewError(f"view {view!r}: the split has none of the columns it permutes")
    import pyarrow as pa

    take = pa.array(derangement(len(split), seed))
    values = {name: column(split, name).take(take) for name in names}
    return with_columns(split, values, f"view:{view}")
