"""One split of a built dataset, read with pyarrow alone.

A `Split` is the split's Arrow table (its shards, memory-mapped, concatenated without a
copy) and, once rows are selected, the table rows it shows, in order. Tasks, models and
the loader read it through these methods; nothing here imports `datasets` (1.4 s and about
90 MB more than pyarrow's own, imported alone here). `to_datasets()` gives a
`datasets.Dataset` of the same rows for code that wants its API.

Derived views (`select`, `with_columns`, `replicate`) do not copy the stored columns: a
selection is an index array, a replaced column is the only new memory, and the images
stay memory-mapped (only a selection that shows a row twice is copied before a column of
it is replaced).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np


def read_shards(paths: Sequence[Path | str]) -> Any:
    """The rows of Arrow stream shards as one table (memory-mapped, zero-copy)."""
    import pyarrow as pa

    tables = []
    for path in paths:
        with pa.memory_map(str(path)) as source:  # the buffers keep the mapping alive
            tables.append(pa.ipc.open_stream(source).read_all())
    if not tables:
        raise ValueError("a split needs at least one shard")
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _digest(*parts: object) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:16]


def _consecutive(rows: np.ndarray) -> bool:
    return len(rows) > 0 and int(rows[-1]) - int(rows[0]) == len(rows) - 1 and bool(np.all(np.diff(rows) == 1))


# Up to this many rows (a shuffled training batch), a gather is one zero-copy slice per row:
# 0.3 ms for 64 rows of a 100k-row split, against 6-7 ms grouping them by record batch.
SLICED_GATHER_ROWS = 2048


def take_rows(table: Any, rows: np.ndarray) -> Any:
    """`table`'s rows `rows`, in that order, copying only those rows.

    pyarrow's own `Table.take` first joins every chunk of a column, which for the images of
    a many-shard split is a copy of all of them. A few rows are sliced one by one (no copy);
    more are taken record batch by record batch, each giving only its own rows.
    """
    import pyarrow as pa

    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return table.slice(0, 0)
    if _consecutive(rows):
        return table.slice(int(rows[0]), len(rows))
    if rows.min() < 0 or rows.max() >= table.num_rows:
        raise IndexError(f"row {int(rows.max() if rows.max() >= table.num_rows else rows.min())} "
                         f"is outside a table of {table.num_rows} rows")
    if len(rows) <= SLICED_GATHER_ROWS:
        return pa.concat_tables([table.slice(int(r), 1) for r in rows])
    batches = [b for b in table.to_batches() if b.num_rows]
    starts = np.cumsum([0] + [b.num_rows for b in batches[:-1]])
    which = np.searchsorted(starts, rows, side="right") - 1
    order = np.argsort(which, kind="stable")
    grouped = which[order]
    pieces = []
    for group in np.split(order, np.flatnonzero(np.diff(grouped)) + 1):
        b = int(which[group[0]])
        pieces.append(batches[b].take(pa.array(rows[group] - starts[b])))
    out = pa.Table.from_batches(pieces, schema=table.schema)
    if np.all(np.diff(order) > 0):
        return out
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return out.take(pa.array(inverse))  # the selected rows only: one batch's worth


class Split:
    """Rows of an Arrow table, optionally a selection of them; see the module docstring."""

    def __init__(self, table: Any, rows: np.ndarray | None = None, fingerprint: str = "") -> None:
        self.table = table
        self._rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        # Without one given, unique to this object (an id() could be reused once it is freed).
        self.fingerprint = fingerprint or uuid.uuid4().hex[:16]

    @classmethod
    def from_files(cls, paths: Sequence[Path | str], fingerprint: str = "") -> Split:
        return cls(read_shards(paths), fingerprint=fingerprint)

    # -- shape ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.table.num_rows if self._rows is None else len(self._rows)

    @property
    def num_rows(self) -> int:
        return len(self)

    @property
    def column_names(self) -> list[str]:
        return list(self.table.column_names)

    def table_rows(self) -> np.ndarray:
        """The row of the underlying table behind each row of the split."""
        return np.arange(self.table.num_rows, dtype=np.int64) if self._rows is None else self._rows

    @property
    def selected(self) -> bool:
        """Whether the split shows a selection of its table's rows (not all, in order)."""
        return self._rows is not None

    # -- reading -------------------------------------------------------------------------

    def _columns(self, columns: Sequence[str] | None) -> Any:
        if columns is None:
            return self.table
        return self.table.select([c for c in columns if c in self.table.column_names])

    def rows_at(self, positions: np.ndarray | Sequence[int], columns: Sequence[str] | None = None) -> Any:
        """The split's rows at `positions` (in that order) as a pyarrow table."""
        positions = np.asarray(positions, dtype=np.int64)
        rows = positions if self._rows is None else self._rows[positions]
        return take_rows(self._columns(columns), rows)

    def rows_between(self, start: int, stop: int, columns: Sequence[str] | None = None) -> Any:
        """Rows `start` to `stop` (exclusive) of the split as a pyarrow table."""
        start, stop = max(0, start), min(len(self), stop)
        if self._rows is None:
            return self._columns(columns).slice(start, max(0, stop - start))
        return take_rows(self._columns(columns), self._rows[start:stop])

    def to_table(self, columns: Sequence[str] | None = None) -> Any:
        """Every row of the split, in split order, as a pyarrow table."""
        return self.rows_between(0, len(self), columns)

    def column(self, name: str) -> Any:
        """One column in split order (a pyarrow ChunkedArray)."""
        if name not in self.table.column_names:
            raise KeyError(f"no column {name!r} (columns: {', '.join(self.column_names)})")
        return self.to_table([name]).column(0)

    def iter_tables(self, rows: int, columns: Sequence[str] | None = None) -> Iterator[Any]:
        """The split as pyarrow tables of at most `rows` rows, in split order."""
        for start in range(0, len(self), rows):
            yield self.rows_between(start, start + rows, columns)

    # -- derived splits ------------------------------------------------------------------

    def select(self, positions: Sequence[int] | np.ndarray | range) -> Split:
        """The split's rows at `positions`, in that order (no data is copied)."""
        if isinstance(positions, range) and positions.start == 0 and positions.step == 1 and self._rows is None:
            stop = min(positions.stop, len(self))  # a leading run: a zero-copy slice of the table
            return Split(self.table.slice(0, stop), fingerprint=_digest(self.fingerprint, "head", stop))
        picked = np.asarray(positions, dtype=np.int64).reshape(-1)
        if len(picked) and (picked.min() < -len(self) or picked.max() >= len(self)):
            raise IndexError(f"select: a position outside a split of {len(self)} rows")
        picked = np.where(picked < 0, picked + len(self), picked)
        rows = picked if self._rows is None else self._rows[picked]
        return Split(self.table, rows, _digest(self.fingerprint, "select", hashlib.sha256(rows.tobytes()).hexdigest()))

    def _per_table_row(self, values: Any) -> Any:
        """Values given per row of the split, laid out per row of its table (null elsewhere)."""
        import pyarrow as pa

        if self._rows is None:
            return values
        position = np.full(self.table.num_rows, -1, dtype=np.int64)
        position[self._rows] = np.arange(len(self))
        return values.take(pa.array(position, mask=position < 0))

    def _set(self, table: Any, name: str, values: Any) -> Any:
        values = self._per_table_row(values)
        if name in table.column_names:
            i = table.column_names.index(name)
            return table.set_column(i, name, values.cast(table.schema.field(name).type))
        return table.append_column(name, values)

    def with_columns(self, values: dict[str, Any], tag: str) -> Split:
        """The split with the named columns replaced (or added) by `values`, pyarrow arrays
        of one value per row; `tag` names the derivation (it goes into the fingerprint)."""
        for name, column_values in values.items():
            if len(column_values) != len(self):
                raise ValueError(f"column {name!r}: {len(column_values)} values for {len(self)} rows")
        if self._rows is not None and len(np.unique(self._rows)) < len(self._rows):
            # A table row shown twice could hold only one of its two new values: copy the rows.
            return Split(self.to_table(), fingerprint=self.fingerprint).with_columns(values, tag)
        table = self.table
        for name, column_values in values.items():
            table = self._set(table, name, column_values)
        return Split(table, self._rows, _digest(self.fingerprint, tag))

    def replicate(self, lists: Any, name: str, tag: str) -> Split:
        """One row per element of `lists` (a pyarrow list array, one list per row), with
        column `name` set to that element; a row with an empty list disappears."""
        import pyarrow as pa
        import pyarrow.compute as pc

        lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
        lengths = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False)
        flat = pc.list_flatten(lists).to_numpy(zero_copy_only=False)
        starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
        rows, n_table = self.table_rows(), self.table.num_rows
        copies, keep = [], []
        for j in range(int(lengths.max()) if len(lengths) else 0):
            has = lengths > j
            element = np.zeros(len(self), dtype=np.int64)
            element[has] = flat[starts[has] + j]
            copies.append(self._set(self.table, name, pa.array(element, mask=~has)))
            keep.append(j * n_table + rows[has])
        if not copies:
            return self.select([])
        table = pa.concat_tables(copies) if len(copies) > 1 else copies[0]
        return Split(table, np.concatenate(keep), _digest(self.fingerprint, tag))

    # -- conveniences for code written against `datasets` ---------------------------------

    @overload
    def __getitem__(self, key: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, key: str) -> list[Any]: ...
    @overload
    def __getitem__(self, key: slice) -> dict[str, list[Any]]: ...

    def __getitem__(self, key: int | str | slice) -> Any:
        """A row as a dict (int), a column as a list (str), or rows as a dict of lists (slice)."""
        if isinstance(key, str):
            return self.column(key).to_pylist()
        if isinstance(key, slice):
            positions = range(len(self))[key]
            return self.rows_at(np.asarray(positions, dtype=np.int64)).to_pydict()
        index = int(key)
        if not -len(self) <= index < len(self):
            raise IndexError(f"row {index} of a split of {len(self)} rows")
        return self.rows_at([index % len(self)]).to_pylist()[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for table in self.iter_tables(1024):
            yield from table.to_pylist()

    def to_list(self) -> list[dict[str, Any]]:
        return self.to_table().to_pylist()

    def to_datasets(self) -> Any:
        """The same rows as a `datasets.Dataset` (imports `datasets`)."""
        from datasets import Dataset
        from datasets.table import InMemoryTable

        return Dataset(InMemoryTable(self.to_table()))

    def __repr__(self) -> str:
        return f"Split(rows={len(self)}, columns={self.column_names})"
