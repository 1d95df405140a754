"""Datasets in a remote home (`MMBENCH_HOME=s3://...`): published by the machine that
builds them, pulled into a machine's local mirror by the ones that read them.

Remote layout, under the home URL:
- `datasets/<name>/builds/<fingerprint>/...`: the files of one build, as the local
  dataset folder holds them (`info.json`, `rejections.jsonl`, `<split>/*.arrow`);
- `datasets/<name>/current.json`: which build the name means now, and its files.

A build's files are uploaded first, each create-only (a build of one fingerprint holds
the same rows whoever wrote it); the pointer is written last, in one PUT, so a reader
sees either the old build or the whole new one, never a mix. Pulling a build downloads
it into a staging folder of the mirror and swaps it in whole, as a local build does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mmbench.home import datasets_dir, home_url
from mmbench.names import check_name
from mmbench.objects import ObjectStore
from mmbench.paths import inside, make_dir, remove_tree

POINTER = "current.json"


class RemoteDatasetError(FileNotFoundError):
    """A dataset of the remote home that is missing, or not the build a run expects."""


def remote_datasets() -> ObjectStore | None:
    url = home_url()
    return ObjectStore(url).child("datasets") if url is not None else None


def _pointer(objects: ObjectStore, name: str) -> dict[str, Any] | None:
    pointer = objects.read_json(f"{name}/{POINTER}")
    if pointer is None:
        return None
    if not isinstance(pointer, dict) or not isinstance(pointer.get("fingerprint"), str) \
            or not isinstance(pointer.get("files"), list):
        raise RemoteDatasetError(f"{objects.url_of(name + '/' + POINTER)} is not a dataset pointer "
                                 f"(JSON with 'fingerprint' and 'files'); publish the dataset again")
    return pointer


def remote_names() -> list[str]:
    """The datasets the remote home holds (an empty list for a local home)."""
    objects = remote_datasets()
    if objects is None:
        return []
    return sorted({key.split("/")[0] for key in objects.listing()
                   if key.endswith("/" + POINTER) and key.count("/") == 1})


def publish(name: str) -> str | None:
    """Upload the local build of `name` to the remote home and point the name at it; its
    fingerprint, or None for a local home."""
    objects = remote_datasets()
    if objects is None:
        return None
    local = datasets_dir() / check_name(name, "dataset name")
    fingerprint = str(json.loads((local / "info.json").read_text(encoding="utf-8"))["fingerprint"])
    build = f"{name}/builds/{check_name(fingerprint, 'fingerprint')}"
    files = sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file())
    files.sort(key=lambda rel: rel == "info.json")  # info.json last: a build is whole once it is there
    for rel in files:
        key = f"{build}/{Path(rel).as_posix()}"
        if not objects.exists(key):
            objects.upload(local / rel, key)
    pointer = {"fingerprint": fingerprint, "files": [Path(rel).as_posix() for rel in files]}
    objects.put(f"{name}/{POINTER}", json.dumps(pointer, indent=2).encode())
    return fingerprint


def local_fingerprint(name: str) -> str | None:
    try:
        raw = json.loads((datasets_dir() / name / "info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return raw.get("fingerprint") if isinstance(raw, dict) else None


def pull(name: str, fingerprint: str | None = None) -> bool:
    """Make the mirror hold the build the remote home's `name` points to; with
    `fingerprint`, that build and no other (nothing is fetched when the mirror has it).
    False when the remote home has no such dataset (or the home is local)."""
    check_name(name, "dataset name")
    objects = remote_datasets()
    if objects is None:
        return False
    if fingerprint is not None and local_fingerprint(name) == fingerprint:
        return True
    pointer = _pointer(objects, name)
    if pointer is None:
        return False
    if fingerprint is not None and pointer["fingerprint"] != fingerprint:
        raise RemoteDatasetError(
            f"dataset {name!r} in {objects.url} is now build {pointer['fingerprint'][:16]}, not "
            f"{fingerprint[:16]} as this run planned (it was published again meanwhile); run again")
    if local_fingerprint(name) != pointer["fingerprint"]:
        _download(objects, name, pointer)
    return True


def _download(objects: ObjectStore, name: str, pointer: dict[str, Any]) -> None:
    from mmbench.runner.claims import hold

    base = datasets_dir()
    base.mkdir(parents=True, exist_ok=True)
    final = inside(base / name, base, "dataset folder")
    staging = inside(base / f".{name}.building-{os.getpid()}", base, "staging folder")
    remove_tree(staging, base, "staging folder")
    make_dir(staging, base, "staging folder")
    build = f"{name}/builds/{pointer['fingerprint']}"
    try:
        for rel in pointer["files"]:
            parts = str(rel).split("/")
            target = inside(staging.joinpath(*parts), staging, "dataset file")  # a key, never a path
            objects.download(f"{build}/{rel}", target)
        info_path = staging / "info.json"
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("fingerprint") != pointer["fingerprint"]:
            raise RemoteDatasetError(f"{objects.url_of(build)}: its info.json is of build "
                                     f"{info.get('fingerprint')}, not of the build it is filed under")
        info["path"] = str(final)  # where it lies on this machine
        info_path.write_text(json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8")
        with hold(base / f".{name}.replace.lock", base):
            if local_fingerprint(name) != pointer["fingerprint"]:  # another process pulled it meanwhile
                remove_tree(final, base, "dataset folder")
                staging.rename(inside(final, base, "dataset folder"))
    finally:
        remove_tree(staging, base, "staging folder")
