"""Evaluation views: what an evaluate step shows a fitted model of its split.

`clean` is the split as stored. `permute-images:seed=S` and `permute-texts:seed=S` break
the pairing within the split: every row gets the image (or the texts) of another row,
by a seeded permutation without fixed points, while its id, label and the other modality
stay. Only the permuted columns are new memory (the eval split's images, taken in the
permuted order); nothing is written to disk. `<perturbation>:severity=K:seed=S` (see
`mmbench.diagnostics.perturb`) corrupts each batch's images or texts as the loader hands
it over. The view string, parameters and seed included, is part of the record key and
stored in the record, so each view has its own predictions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

CLEAN = "clean"
PERMUTATIONS = ("permute-images", "permute-texts")
KINDS = (CLEAN, *PERMUTATIONS)
TEXT_INPUTS = ("text", "question", "hypothesis", "captions")  # what the loader reads as text
DEFAULT_SEED = 0


class ViewError(ValueError):
    pass


@dataclass(frozen=True)
class View:
    kind: str  # clean, a permutation, or a perturbation's name
    seed: int = DEFAULT_SEED
    severity: int = 0  # 1-3 for a perturbation, 0 otherwise

    def __str__(self) -> str:
        if self.kind == CLEAN:
            return CLEAN
        if self.kind in PERMUTATIONS:
            return f"{self.kind}:seed={self.seed}"
        return f"{self.kind}:severity={self.severity}:seed={self.seed}"


def view_name(kind: str, seed: int = DEFAULT_SEED, severity: int = 0) -> str:
    """The canonical view string: "clean", "<permutation>:seed=S" or
    "<perturbation>:severity=K:seed=S"."""
    from mmbench.diagnostics.perturb import PERTURBATIONS, SEVERITIES

    if kind not in KINDS and kind not in PERTURBATIONS:
        raise ViewError(f"unknown view {kind!r} (known: {', '.join((*KINDS, *PERTURBATIONS))})")
    if kind in PERTURBATIONS and severity not in SEVERITIES:
        raise ViewError(f"view {kind!r}: severity must be one of {SEVERITIES}, got {severity!r}")
    return str(View(kind, seed, severity if kind in PERTURBATIONS else 0))


def parse_view(view: str) -> View:
    """The View a view string names; ViewError naming it when it is not one."""
    from mmbench.diagnostics.perturb import PERTURBATIONS

    parts = view.split(":")
    fields = dict(part.partition("=")[::2] for part in parts[1:])
    try:
        if parts == [CLEAN]:
            return View(CLEAN)
        if parts[0] in PERMUTATIONS and list(fields) == ["seed"]:
            candidate = View(parts[0], int(fields["seed"]))
        elif parts[0] in PERTURBATIONS and list(fields) == ["severity", "seed"]:
            candidate = View(parts[0], int(fields["seed"]), int(fields["severity"]))
        else:
            candidate = None
    except ValueError:
        candidate = None
    if candidate is not None and str(candidate) == view and view_name(candidate.kind, candidate.seed,
                                                                      candidate.severity) == view:
        return candidate
    raise ViewError(f"unknown view {view!r} (known: clean, permute-images:seed=N, permute-texts:seed=N, "
                    f"<perturbation>:severity=1-3:seed=N with a perturbation among "
                    f"{', '.join(PERTURBATIONS)})")


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
    """`split` as a permutation view shows it (the same object for any other view)."""
    from mmbench.loader import column
    from mmbench.tasks.views import with_columns

    parsed = parse_view(view)
    kind, seed = parsed.kind, parsed.seed
    if kind not in PERMUTATIONS:
        return split  # clean, or a perturbation: applied per batch (batch_transform)
    names = permuted_columns(split, kind)
    if not names:
        raise ViewError(f"view {view!r}: the split has none of the columns it permutes")
    import pyarrow as pa

    take = pa.array(derangement(len(split), seed))
    values = {name: column(split, name).take(take) for name in names}
    return with_columns(split, values, f"view:{view}")


def batch_transform(view: str) -> Callable[[Any], Any] | None:
    """What to do to each batch under `view` (None: nothing, the split is as it is)."""
    parsed = parse_view(view)
    if parsed.kind in KINDS:
        return None
    from mmbench.diagnostics.perturb import perturb_batch

    return lambda batch: perturb_batch(batch, parsed.kind, parsed.severity, parsed.seed)
