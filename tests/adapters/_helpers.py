"""Helpers the adapter tests share: make an adapter, build it checked, read its rejections."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mmbench.adapters import ADAPTERS
from mmbench.adapters.base import AdapterError
from mmbench.data import IngestReport, build


def make_adapter(name: str, **options: Any) -> Any:
    """The registered adapter `name` with these options."""
    return ADAPTERS.get(name)(**options)


def rejections(home: Path, dataset: str) -> list[dict[str, Any]]:
    """The rejection report of a built dataset, one dict per line."""
    lines = (home / dataset / "rejections.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def rejections_by_locator(home: Path, dataset: str) -> dict[str, dict[str, Any]]:
    return {r["locator"]: r for r in rejections(home, dataset)}


def ingest(adapter: str, root: Path, home: Path, *, dataset: str | None = None,
           allow_symlinks_out: bool = False, **options: Any) -> IngestReport:
    """Build adapter `adapter` at `root` and check that every row read was kept or rejected."""
    report = build(make_adapter(adapter, **options), root, home=home, name=dataset,
                   allow_symlinks_out=allow_symlinks_out)
    assert report.read == report.kept + report.rejected
    return report


def run(adapter: str, root: Path, home: Path,
        **options: Any) -> tuple[IngestReport, list[dict[str, Any]]]:
    """`ingest`, then the rejections it reported."""
    report = ingest(adapter, root, home, **options)
    return report, rejections(home, adapter)


def assert_root_errors(adapter: Any, tmp: Path, home: Path, empty: str) -> Path:
    """Building at a missing root says it does not exist; building at an empty folder
    raises an error matching `empty`. Returns that empty folder (`tmp/empty`)."""
    with pytest.raises(AdapterError, match="does not exist"):
        build(adapter, tmp / "absent", home=home)
    (tmp / "empty").mkdir()
    with pytest.raises(AdapterError, match=empty):
        build(adapter, tmp / "empty", home=home)
    return tmp / "empty"
