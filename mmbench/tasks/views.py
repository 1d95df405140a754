"""Derived views of a split for tasks whose targets or inputs are not the stored ones.

A view replaces whole columns (a label made from the answers, the hypothesis as the
text a model reads) and keeps every other column as the memory-mapped original: only
the replaced column is new memory, the images are never copied. `replicate` repeats
rows (one copy per element of a list column) the same way, by concatenating relabelled
zero-copy tables and selecting through an index mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from mmbench.split import Split
from mmbench.tasks.base import EVAL_SPLITS, TRAIN_SPLITS, VAL_SPLITS, TaskError

READ_ROWS = 8192  # rows of a target column turned into Python objects at a time


def iter_column(split: Any, name: str, rows: int = READ_ROWS) -> Iterator[list[Any]]:
    """One column of a split as Python lists of at most `rows` values (honours select)."""
    from mmbench.loader import column

    values = column(split, name)
    for start in range(0, len(values), rows):
        yield values.slice(start, rows).to_pylist()


def with_columns(split: Split, values: dict[str, Any], tag: str) -> Split:
    """`split` with the named columns replaced by `values` (pyarrow arrays, one value per row).

    `tag` names the derivation (it goes into the view's fingerprint).
    """
    return split.with_columns(values, tag)


def replicate(split: Split, lists: Any, name: str, tag: str) -> Split:
    """One row per element of `lists` (a pyarrow list array, one list per row of the split),
    with column `name` set to that element; a row with an empty list disappears."""
    return split.replicate(lists, name, tag)


def pick_splits_where(dataset: Any, has_targets: Callable[[Any], bool], *,
                      need_train: bool = True) -> tuple[Any | None, Any | None, str]:
    """(train, val, eval split name) where `has_targets(split)` says which splits can be scored.

    The same preference order as `tasks.base.pick_splits`, for targets other than `label`.
    """
    names = list(dataset.keys())
    train = next((n for n in TRAIN_SPLITS if n in names and has_targets(dataset[n])), None)
    if train is None and need_train:
        raise TaskError(f"no train split with targets among {names}")
    evaluable = [n for n in (*EVAL_SPLITS, *names) if n in names and n != train
                 and has_targets(dataset[n])]
    if not evaluable:
        raise TaskError(f"no evaluation split with targets among {names}")
    eval_name = evaluable[0]
    val = next((n for n in VAL_SPLITS if n in names and n not in (train, eval_name)
                and has_targets(dataset[n])), None)
    return (dataset[train] if train else None), (dataset[val] if val else None), eval_name


def has_nonempty_list(name: str) -> Callable[[Any], bool]:
    """A split predicate: some row has a non-empty `name` list (read from Arrow)."""

    def check(split: Any) -> bool:
        import pyarrow.compute as pc

        from mmbench.loader import column

        if name not in split.column_names or len(split) == 0:
            return False
        lengths = pc.list_value_length(column(split, name))
        return bool(pc.max(lengths.fill_null(0)).as_py() or 0)

    return check


def has_values(name: str) -> Callable[[Any], bool]:
    """A split predicate: some row has a non-null `name`."""

    def check(split: Any) -> bool:
        from mmbench.loader import column

        return name in split.column_names and len(split) > 0 and column(split, name).null_count < len(split)

    return check


def iter_records(split: Split, names: tuple[str, ...], rows: int = READ_ROWS) -> Iterator[list[dict[str, Any]]]:
    """Rows of a split as dicts of the named columns, `rows` at a time, in split order."""
    for table in split.iter_tables(rows, names):
        yield table.select(list(names)).to_pylist()
