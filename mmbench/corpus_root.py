"""Corpus roots are a boundary: every file a build reads (annotation files, tar shards,
folders it lists, images) is resolved, all symlinks and every component, and must lie
inside the corpus root, unless the user allows paths out (`--allow-symlinks-out`,
`allow_symlinks_out=True`).

`mmbench.data.build` makes its `Boundary` current while the adapter runs, so the helpers
an adapter reads files with check them without a new parameter (`check`, `outside`);
each chunk carries the boundary to the process that opens its images, which resolves
and checks them all before it opens any (`Resolver`).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmbench.read_ahead import OPEN_FLAGS

OPTION = "--allow-symlinks-out (allow_symlinks_out=True in Python)"
# Where Linux names the file behind a descriptor; absent elsewhere (the check is skipped).
_FD_LINKS = "/proc/self/fd"


class OutsideCorpus(ValueError):
    """A path leads outside the corpus root (through a symlink, or as an absolute path)."""

    def __init__(self, what: str, path: Any, resolved: str, root: str) -> None:
        super().__init__(f"{what} leads outside the corpus root: {path} resolves to "
                         f"{resolved}, which is not inside {root}; pass {OPTION} to read it")
        self.path, self.resolved, self.root = path, resolved, root


class Unresolvable(ValueError):
    """A path that cannot be resolved: a symlink loop, a NUL byte, a lone surrogate."""

    def __init__(self, path: Any, why: str) -> None:
        super().__init__(f"path {path!r} cannot be resolved: {why}")
        self.why = why


def realpath(path: Any) -> str:
    """`path` with every symlink resolved. A component that is missing or unreadable is
    kept as written (opening it fails with the system's own reason); a loop, a NUL byte
    or a name the system cannot encode raises Unresolvable."""
    try:
        return os.path.realpath(path, strict=True)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise Unresolvable(path, "a symlink loop") from None
    except (ValueError, TypeError) as err:  # NUL, lone surrogate; not a path at all
        raise Unresolvable(path, str(err)) from None
    except RecursionError:  # a chain of more symlinks than Python's stack
        raise Unresolvable(path, "too many symlinks") from None
    try:
        return os.path.realpath(path)  # a missing component: resolve what is there
    except (ValueError, RecursionError) as err:
        raise Unresolvable(path, str(err) or "too many symlinks") from None


@dataclass(frozen=True)
class Boundary:
    """The resolved corpus folder one build may read, and whether paths may leave it."""

    root: str
    # A root the user named as one file (a TSV, a json): that file may lie anywhere.
    root_file: str = ""
    allow_outside: bool = False

    @classmethod
    def of(cls, root: Path | str, allow_outside: bool = False) -> Boundary:
        real = realpath(root)
        if os.path.isdir(real):
            return cls(real, "", allow_outside)
        return cls(realpath(Path(root).parent), real, allow_outside)

    def holds(self, resolved: str) -> bool:
        prefix = self.root if self.root.endswith(os.sep) else self.root + os.sep
        return resolved == self.root or resolved.startswith(prefix) \
            or (bool(self.root_file) and resolved == self.root_file)

    def resolve(self, path: Any, what: str = "file") -> str:
        """`path` resolved, if it lies inside; else OutsideCorpus (or Unresolvable)."""
        resolved = realpath(path)
        if not self.allow_outside and not self.holds(resolved):
            raise OutsideCorpus(what, path, resolved, self.root)
        return resolved

    def landed_inside(self, fd: int, path: Any) -> None:
        """Raise OutsideCorpus unless the file open as `fd` lies inside (Linux names it in
        /proc; elsewhere O_NOFOLLOW and the check before the open remain)."""
        try:
            opened = os.readlink(f"{_FD_LINKS}/{fd}")
        except OSError:
            return
        if not self.holds(opened):
            raise OutsideCorpus("image", path, opened, self.root)


class Resolver:
    """Resolves many paths against one boundary, each folder once (the images of a chunk
    mostly share a folder, and resolving a whole path is several system calls), and opens
    them (`open`), refusing a file that is not the one checked."""

    def __init__(self, boundary: Boundary) -> None:
        self.boundary = boundary
        self.folders: dict[str, str] = {}
        self.checked: dict[str, tuple[int, int]] = {}  # resolved path -> (device, inode)

    def resolve(self, path: Any, what: str = "image") -> str:
        try:
            text = os.fspath(path)
        except TypeError as err:
            raise Unresolvable(path, str(err)) from None
        if not isinstance(text, str):
            raise Unresolvable(path, "a path of bytes, not text")
        folder, name = os.path.split(text)
        if name in ("", os.curdir, os.pardir):
            return self.boundary.resolve(text, what)
        real_folder = self.folders.get(folder)
        if real_folder is None:
            real_folder = self.folders[folder] = realpath(folder or os.curdir)
        resolved = os.path.join(real_folder, name)
        info = _stat(resolved, os.lstat, path)
        link = info is not None and stat.S_ISLNK(info.st_mode)
        if link:
            resolved = realpath(resolved)
        if not self.boundary.holds(resolved):
            raise OutsideCorpus(what, text, resolved, self.boundary.root)
        if link:
            info = _stat(resolved, os.stat, path)  # the identity of the file it names
        if info is not None:
            self.checked[resolved] = (info.st_dev, info.st_ino)
        return resolved

    def open(self, resolved: str | os.PathLike[str]) -> int:
        """A descriptor for reading a path `resolve` returned: opened with O_NOFOLLOW, and
        refused when it is not the file checked (a symlink swapped into any component
        since) unless it still lies inside."""
        fd = os.open(resolved, OPEN_FLAGS | os.O_NOFOLLOW)
        try:
            info = os.fstat(fd)
            if self.checked.get(os.fspath(resolved)) != (info.st_dev, info.st_ino):
                self.boundary.landed_inside(fd, resolved)  # changed, or missing when checked
        except BaseException:
            os.close(fd)
            raise
        return fd


def _stat(path: str, how: Callable[[str], os.stat_result], shown: Any
          ) -> os.stat_result | None:
    """`how(path)`, None when it fails (missing or unreadable: opening it says which)."""
    try:
        return how(path)
    except OSError:
        return None
    except ValueError as err:  # a NUL byte, a lone surrogate
        raise Unresolvable(shown, str(err)) from None


_CURRENT: ContextVar[Boundary | None] = ContextVar("mmbench_corpus_boundary", default=None)


def activate(boundary: Boundary | None) -> Token[Boundary | None]:
    """Make `boundary` the one `check` and `outside` use (None: no boundary) until
    `deactivate(token)`: a build holds it around every call into its adapter."""
    return _CURRENT.set(boundary)


def deactivate(token: Token[Boundary | None]) -> None:
    _CURRENT.reset(token)


@contextmanager
def within(boundary: Boundary | None) -> Iterator[None]:
    token = activate(boundary)
    try:
        yield
    finally:
        deactivate(token)


def check(path: Path, what: str = "file") -> Path:
    """The path to open for `path`: resolved, if a build's boundary is current (raises
    OutsideCorpus or Unresolvable); `path` itself outside a build or when paths may leave."""
    boundary = _CURRENT.get()
    if boundary is None or boundary.allow_outside:
        return path
    return Path(boundary.resolve(path, what))


def outside(path: Path, what: str = "folder") -> ValueError | None:
    """Why `path` may not be read (OutsideCorpus, Unresolvable), or None when it may."""
    try:
        check(path, what)
    except ValueError as err:
        return err
    return None
