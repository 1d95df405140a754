"""Reading a known sequence of files while the kernel reads the next ones from disk.

Each file is opened a few steps before it is needed and the kernel is told it will be
read (`posix_fadvise(WILLNEED)`), so reads from a cold disk overlap instead of waiting
one by one; the same descriptor then serves the read, so warm files cost no extra open.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from collections.abc import Callable, Iterable

Path = str | os.PathLike[str]
Opener = Callable[[Path], int]  # a path -> a descriptor open for reading
WINDOW = 64  # files opened ahead of the one being read
MAX_FILE_BYTES = 1 << 30  # no image is a gigabyte; a larger file is not read at all
# Non-blocking, so that opening a FIFO named like an image does not wait for a writer
# (for regular files the flag changes nothing).
OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)


class NotAFile(OSError):
    """The path is a FIFO, a device, a directory or a file too large to be an image."""


def read_fd(fd: int) -> bytes:
    """All bytes of an open regular file, in as few system calls as a read can take."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # /dev/zero would never end; a FIFO may block
        raise NotAFile("a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise NotAFile(f"{info.st_size} bytes, over the {MAX_FILE_BYTES} byte limit")
    want = info.st_size + 1
    data = os.read(fd, want)
    if len(data) < want:  # a short read of a regular file is its end
        return data
    parts, total = [data], len(data)  # the file grew since fstat
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
        total += len(chunk)
        if total > MAX_FILE_BYTES:
            raise NotAFile(f"grew past the {MAX_FILE_BYTES} byte limit while read")
    return b"".join(parts)


def open_file(path: Path) -> int:
    return os.open(path, OPEN_FLAGS)


def read_file(path: Path, opener: Opener = open_file) -> bytes:
    fd = opener(path)
    try:
        return read_fd(fd)
    finally:
        os.close(fd)


class ReadAhead:
    """Reads `paths` in the order given; a path read out of order is simply read.

    `opener` opens each file (`mmbench.corpus_root.Boundary.open` checks where it lands).
    """

    def __init__(self, paths: Iterable[Path], window: int = WINDOW,
                 opener: Opener = open_file) -> None:
        self.waiting = deque(paths)
        self.opener = opener
        self.ahead: deque[tuple[Path, int | None]] = deque()
        self.window = window
        self.advise = getattr(os, "posix_fadvise", None)

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fill(self) -> None:
        while self.waiting and len(self.ahead) < self.window:
            path = self.waiting.popleft()
            try:
                fd: int | None = self.opener(path)
            except (OSError, ValueError):  # ValueError: a NUL or lone surrogate in the name
                fd = None  # the read itself raises, with the reason
            else:
                try:
                    if self.advise is not None:
                        self.advise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
                except OSError:
                    pass  # only a hint (a directory or a pipe takes none)
            self.ahead.append((path, fd))

    def read(self, path: Path) -> bytes:
        self._fill()
        if not self.ahead or self.ahead[0][0] != path:
            return read_file(path, self.opener)
        _, fd = self.ahead.popleft()
        if fd is None:
            return read_file(path, self.opener)
        try:
            return read_fd(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        while self.ahead:
            _, fd = self.ahead.popleft()
            if fd is not None:
                os.close(fd)
        self.waiting.clear()
