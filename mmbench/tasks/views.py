"""Derived views of a split for tasks whose targets or inputs are not the stored ones.

A view replaces whole columns (a label made from the answers, the hypothesis as the
text a model reads) and keeps every other column as the memory-mapped original: only
the replaced column is new memory, the images are never copied. `replicate` repeats
rows (one copy per element of a list column) the same way, by concatenating relabelled
zero-copy tables and selecting through an index mapping.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from mmbench.tasks.base import EVAL_SPLITS, TRAIN_SPLITS, VAL_SPLITS, TaskError

READ_ROWS = 8192  # rows of a target column turned into Python objects at a time


def iter_column(split: Any, name: str, rows: int = READ_ROWS) -> Iterator[list[Any]]:
    """One column of a split as Python lists of at most `rows` values (honours select)."""
    from mmbench.loader import column

    values = column(split, name)
    for start in range(0, len(values), rows):
        yield values.slice(start, rows).to_pylist()


def table_rows(split: Any) -> np.ndarray:
    """The row of the underlying Arrow table behind each row of the split."""
    if split._indices is None:
        return np.arange(len(split))
    return np.asarray(split._indices.column(0).to_numpy(), dtype=np.int64)


def _aligned(split: Any, values: Any) -> Any:
    """Values given per row of the split, laid out per row of its table (null elsewhere)."""
    import pyarrow as pa

    if split._indices is None:
        return values
    position = np.full(split.data.num_rows, -1, dtype=np.int64)
    position[table_rows(split)] = np.arange(len(split))
    return values.take(pa.array(position, mask=position < 0))


def _set_column(table: Any, name: str, values: Any) -> Any:
    from datasets.table import InMemoryTable

    i = table.column_names.index(name)
    values = values.cast(table.schema.field(name).type)
    try:
        return table.set_column(i, name, values)
    except NotImplementedError:  # a concatenation of tables: the pyarrow table is still zero-copy
        return InMemoryTable(table.table.set_column(i, name, values))


def _fingerprint(split: Any, tag: str) -> str:
    return hashlib.sha256(f"{split._fingerprint}:{tag}".encode()).hexdigest()[:16]


def with_columns(split: Any, values: dict[str, Any], tag: str) -> Any:
    """`split` with the named columns replaced by `values` (pyarrow arrays, one value per row).

    `tag` names the derivation (it goes into the view's fingerprint).
    """
    from datasets import Dataset

    table = split.data
    for name, column_values in values.items():
        if len(column_values) != len(split):
            raise ValueError(f"column {name!r}: {len(column_values)} values for {len(split)} rows")
        table = _set_column(table, name, _aligned(split, column_values))
    return Dataset(table, info=split.info.copy(), split=split.split, indices_table=split._indices,
                   fingerprint=_fingerprint(split, tag))


def replicate(split: Any, lists: Any, name: str, tag: str) -> Any:
    """One row per element of `lists` (a pyarrow list array, one list per row of the split),
    with column `name` set to that element; a row with an empty list disappears."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from datasets import Dataset
    from datasets.table import concat_tables

    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    lengths = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(lists).to_numpy(zero_copy_only=False)
    starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
    rows, n_table = table_rows(split), split.data.num_rows
    copies, keep = [], []
    for j in range(int(lengths.max()) if len(lengths) else 0):
        has = lengths > j
        element = np.zeros(len(split), dtype=np.int64)
        element[has] = flat[starts[has] + j]
        column_values = pa.array(element, mask=~has)
        copies.append(_set_column(split.data, name, _aligned(split, column_values)))
        keep.append(j * n_table + rows[has])
    if not copies:
        return split.select([])
    table = concat_tables(copies) if len(copies) > 1 else copies[0]
    full = Dataset(table, info=split.info.copy(), split=split.split,
                   fingerprint=_fingerprint(split, f"{tag}:all"))
    return full.select(np.concatenate(keep), keep_in_memory=True,
                       new_fingerprint=_fingerprint(split, tag))


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


def iter_records(split: Any, names: tuple[str, ...], rows: int = READ_ROWS) -> Iterator[list[dict[str, Any]]]:
    """Rows of a split as dicts of the named columns, `rows` at a time, in split order."""
    table = split.with_format("arrow")
    for start in range(0, len(split), rows):
        yield table[start:start + rows].select(list(names)).to_pylist()
