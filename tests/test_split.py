"""The pyarrow-only split the runner reads datasets through: the rows it shows are the rows
`datasets` shows for the same shards, selections compose, derived columns cost only
themselves, and an evaluation never imports `datasets`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmbench import data
from mmbench.adapters.shapes import ShapesAdapter
from mmbench.split import Split, take_rows


def _chunked(sizes: list[int]) -> Any:
    """A table of int and binary columns in chunks of the given sizes; value = row number."""
    tables, start = [], 0
    for size in sizes:
        rows = range(start, start + size)
        tables.append(pa.table({"n": pa.array(rows, pa.int64()),
                                "blob": pa.array([str(r).encode() * 3 for r in rows], pa.binary())}))
        start += size
    return pa.concat_tables(tables)


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 7), min_size=1, max_size=6), data_=st.data())
def test_take_rows_gives_the_rows_asked_for_in_order(sizes: list[int], data_: st.DataObject) -> None:
    table = _chunked(sizes)
    n = table.num_rows
    rows = data_.draw(st.lists(st.integers(0, max(n - 1, 0)), max_size=12)) if n else []
    taken = take_rows(table, np.asarray(rows, dtype=np.int64))
    assert taken.column("n").to_pylist() == rows
    assert taken.column("blob").to_pylist() == [str(r).encode() * 3 for r in rows]


def test_take_rows_refuses_a_row_outside_the_table() -> None:
    with pytest.raises(IndexError, match="outside a table of 5 rows"):
        take_rows(_chunked([2, 3]), np.array([4, 0, 5]))


def test_take_rows_copies_only_the_rows_it_takes() -> None:
    """The point of it: pyarrow's Table.take joins every chunk of a column first."""
    blob = b"x" * 100_000
    table = pa.concat_tables([pa.table({"images": pa.array([blob] * 10, pa.binary())}) for _ in range(40)])
    before = pa.total_allocated_bytes()
    taken = take_rows(table, np.array([399, 3, 250, 17]))
    assert pa.total_allocated_bytes() - before < 2 * 4 * len(blob)  # not the 40 MB of the column
    assert taken.num_rows == 4


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Split], Path]:
    home = tmp_path_factory.mktemp("home")
    data.build(ShapesAdapter(scale=0.03), home=home)
    return data.load("shapes", home), home


def test_a_split_shows_the_rows_datasets_shows_for_the_same_shards(shapes: tuple[dict[str, Split], Path]) -> None:
    from datasets import Dataset, concatenate_datasets

    splits, home = shapes
    for name, files in data.split_files("shapes", home).items():
        theirs = concatenate_datasets([Dataset.from_file(str(f)) for f in files])
        ours = splits[name]
        assert len(ours) == len(theirs) and ours.column_names == theirs.column_names
        assert ours.to_list() == theirs.to_list()
        picked = [5, 0, 7, 7, 2]
        assert ours.select(picked).to_list() == theirs.select(picked).to_list()
        assert ours["id"] == theirs["id"] and ours[3] == theirs[3]
        assert ours.to_datasets().to_list() == theirs.to_list()


def test_selections_compose_and_derived_columns_follow_the_rows(shapes: tuple[dict[str, Split], Path]) -> None:
    test = shapes[0]["test"]
    ids = test["id"]
    twice = test.select(range(len(test) - 1, -1, -1)).select([0, 2, 4])  # reversed, then every other
    assert twice["id"] == [ids[-1], ids[-3], ids[-5]]
    assert twice.table is test.table  # an index array, not a copy
    relabelled = twice.with_columns({"label": pa.array([7, 8, 9], pa.int32())}, "t")
    assert relabelled["label"] == [7, 8, 9] and relabelled["id"] == twice["id"]
    assert test["label"] == shapes[0]["test"]["label"]  # the original is untouched
    assert relabelled.fingerprint not in (twice.fingerprint, test.fingerprint)
    assert relabelled.column("images").to_pylist() == twice.column("images").to_pylist()
    with pytest.raises(ValueError, match="2 values for 3 rows"):
        twice.with_columns({"label": pa.array([1, 2], pa.int32())}, "t")
    twice_the_same = test.select([1, 1, 0]).with_columns({"label": pa.array([4, 5, 6], pa.int32())}, "t")
    assert twice_the_same["label"] == [4, 5, 6] and twice_the_same["id"] == [ids[1], ids[1], ids[0]]
    head = test.select(range(4))
    assert head["id"] == ids[:4] and not head.selected
    with pytest.raises(IndexError):
        test.select([len(test)])


def test_replicate_gives_one_row_per_element(shapes: tuple[dict[str, Split], Path]) -> None:
    test = shapes[0]["test"].select([3, 1, 2])
    lists = pa.array([[4, 5], [], [6]], pa.list_(pa.int64()))
    out = test.replicate(lists, "label", "copies")
    pairs = sorted(zip(out["id"], out["label"], strict=True))
    ids = test["id"]
    assert pairs == sorted([(ids[0], 4), (ids[0], 5), (ids[2], 6)])


def test_a_fitted_evaluation_never_imports_datasets(tmp_path: Path) -> None:
    """`datasets` costs 1.4 s and about 90 MB to import, scikit-learn 2.3 s, pandas 0.4 s:
    the run path reads Arrow with pyarrow alone (ingest still writes through `datasets`),
    scores AUROC without scikit-learn, and keeps pyarrow from importing pandas."""
    home = tmp_path / "home"
    env = {**os.environ, "MMBENCH_HOME": str(home)}
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps({"name": "no-datasets", "seeds": 1, "models": ["majority", "image-only"],
                                 "diagnostics": ["modality", "calibration"],
                                 "train": {"shapes": {"epochs": 1, "min_epochs": 1}},
                                 "datasets": [{"name": "shapes", "options": {"scale": 0.02}}]}))
    subprocess.run([sys.executable, "-m", "mmbench.cli", "ingest", "shapes", "--scale", "0.02"],
                   env=env, check=True, capture_output=True)
    probe = (f"import json, sys, mmbench; records = mmbench.run({str(suite)!r}, store={str(tmp_path / 'store')!r}); "
             "heavy = ('datasets', 'pandas', 'sklearn'); "
             "print(json.dumps([sorted(m for m in heavy if m in sys.modules), len(records)]))")
    out = subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True, text=True)
    imported, records = json.loads(out.stdout.strip().splitlines()[-1])
    assert records == 6  # two models, clean and two permutation views
    assert imported == []


def test_first_images_and_clusters_read_chunks_without_compute(shapes: tuple[dict[str, Split], Path]) -> None:
    """Rows with two images, none, or one, over chunks and a sliced chunk; a row without an
    image is its own cluster."""
    from mmbench.loader import first_image_values
    from mmbench.tasks.classification import image_clusters

    image = pa.struct([("bytes", pa.binary()), ("sha256", pa.string())])
    rows = [[{"bytes": b"a", "sha256": "A"}, {"bytes": b"b", "sha256": "B"}], [], [{"bytes": b"c", "sha256": "C"}],
            None, [{"bytes": b"d", "sha256": "D"}]]
    chunks = [pa.table({"id": [f"r{i}" for i in range(k, k + n)], "images": pa.array(rows[k:k + n], pa.list_(image))})
              for k, n in ((0, 2), (2, 3))]
    table = pa.concat_tables(chunks).slice(1)  # the first chunk is sliced
    assert first_image_values(table.column("images"), "sha256") == [None, "C", None, "D"]
    assert image_clusters(Split(table)).tolist() == ["r1", "C", "r3", "D"]
    assert image_clusters(Split(table).select([3, 0])).tolist() == ["D", "r1"]
    test = shapes[0]["test"]
    assert image_clusters(test).tolist() == [imgs[0]["sha256"] for imgs in test["images"]]
