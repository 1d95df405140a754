"""Streaming reader of one WebDataset tar shard for the `webdataset` adapter.

The shard is read front to back (tarfile mode `r|*`), so memory holds one member at
a time. Nothing is extracted to disk; unsafe members are reported, never read, and a
corrupt or truncated shard ends with a `Broken` item instead of an exception, and a
shard that leads outside the corpus root is never opened.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mmbench import corpus_root
from mmbench.adapters.base import Rejection

_CHUNK = 1 << 16


@dataclass(frozen=True)
class Member:
    """A regular file member: its path, sample key, extension (lower case) and bytes."""

    name: str
    key: str
    ext: str
    data: bytes


@dataclass(frozen=True)
class Broken:
    """The shard could not be read past this point."""

    locator: str
    reason: str


def split_key(name: str) -> tuple[str, str] | None:
    """`dir/s001.seg.png` -> (`dir/s001`, `seg.png`); None when there is no key or extension."""
    folder, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    if not stem or not dot or not ext:
        return None
    return (f"{folder}/{stem}" if folder else stem), ext.lower()


def _normalise(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def _refusal(member: tarfile.TarInfo, name: str, max_bytes: int) -> str | None:
    """Why this member must not be read, or None when it is a safe regular file."""
    if not member.isfile():
        kind = ("symlink" if member.issym() else "hardlink" if member.islnk()
                else "device" if member.isdev() else "non-regular")
        return f"{kind} member refused (only regular files are read)"
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts:
        return "unsafe member path (absolute or with '..')"
    if member.size > max_bytes:
        return f"member of {member.size} bytes exceeds the limit of {max_bytes}"
    if split_key(name) is None:
        return "member name is not of the form key.extension"
    return None


def _trailer_problem(tf: tarfile.TarFile) -> str | None:
    """tarfile ends quietly at a bad or missing header; look at where it stopped."""
    stream = tf.fileobj
    if stream is None:
        return None
    consumed = stream.tell() - tf.offset
    if consumed != tarfile.BLOCKSIZE:
        return "truncated tar: no end-of-archive marker"
    while chunk := stream.read(_CHUNK):
        if chunk.strip(b"\0"):
            return f"invalid tar header at offset {tf.offset}"
    return None


def iter_members(path: Path, display: str, max_mb: int,
                 only_exts: frozenset[str] | None = None) -> Iterator[Member | Rejection | Broken]:
    """Yield the shard's members in order; `only_exts` skips (never reads) all others."""
    max_bytes = max_mb * 1024 * 1024
    last = ""
    try:
        source = corpus_root.check(path, "tar shard")
    except ValueError as err:  # one shard of many: rejected unopened, the others are read
        yield Broken("shard", str(err))
        return
    try:
        with source.open("rb") as handle, tarfile.open(fileobj=handle, mode="r|*") as tf:
            for member in tf:
                if member.isdir():
                    continue  # folders are structure, not samples
                name = _normalise(member.name)
                refusal = _refusal(member, name, max_bytes)
                if refusal is not None:
                    yield Rejection(display, f"member {member.name}", refusal)
                    last = name
                    continue
                key, ext = split_key(name) or ("", "")
                if only_exts is None or ext in only_exts:
                    extracted = tf.extractfile(member)
                    data = extracted.read() if extracted is not None else b""
                    yield Member(name, key, ext, data)
                last = name  # the last member read whole
            problem = _trailer_problem(tf)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        problem = f"corrupt or truncated tar: {type(err).__name__}: {err}"
    if problem is not None:
        yield Broken(f"after member {last}" if last else "shard", problem)
