"""ReadAhead: the bytes of every file, whatever the order of reads, with no descriptor left open."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmbench.read_ahead import NotAFile, ReadAhead, read_file


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count descriptors")
def test_reads_in_and_out_of_order_and_closes_everything(tmp_path: Path) -> None:
    paths = []
    for i in range(10):
        path = tmp_path / f"{i}.bin"
        path.write_bytes(bytes([i]) * (i * 1000 + 1))
        paths.append(path)
    before = _open_fds()
    order = [0, 1, 2, 5, 3, 4, 6, 7]  # 5 is read early; 8 and 9 are never read
    with ReadAhead(paths, window=3) as files:
        got = {i: files.read(paths[i]) for i in order}
        assert _open_fds() <= before + 3
    assert _open_fds() == before
    assert all(got[i] == paths[i].read_bytes() for i in order)


def test_a_missing_file_fails_at_its_own_read(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "c").write_bytes(b"c")
    with ReadAhead([tmp_path / "a", tmp_path / "b", tmp_path / "c"]) as files:
        assert files.read(tmp_path / "a") == b"a"
        with pytest.raises(FileNotFoundError):
            files.read(tmp_path / "b")
        assert files.read(tmp_path / "c") == b"c"


def test_read_file_reads_whole_files_of_any_size(tmp_path: Path) -> None:
    big = bytes(range(256)) * 12_289  # over 3 MB, not a multiple of any read size
    (tmp_path / "big").write_bytes(big)
    (tmp_path / "empty").write_bytes(b"")
    assert read_file(tmp_path / "big") == big
    assert read_file(str(tmp_path / "empty")) == b""
    with pytest.raises(NotAFile, match="a directory"):
        read_file(tmp_path)


def test_fifos_and_devices_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "image.jpg"
    os.mkfifo(fifo)  # no writer: a blocking open would wait forever
    with pytest.raises(NotAFile, match="not a regular file"):
        read_file(fifo)
    with ReadAhead([fifo, Path("/dev/zero")]) as files:  # /dev/zero would never end
        for path in (fifo, Path("/dev/zero")):
            with pytest.raises(NotAFile, match="not a regular file"):
                files.read(path)


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    from mmbench import read_ahead

    monkeypatch.setattr(read_ahead, "MAX_FILE_BYTES", 1000)
    (tmp_path / "big").write_bytes(b"x" * 1001)
    with pytest.raises(NotAFile, match="1001 bytes, over the 1000 byte limit"):
        read_file(tmp_path / "big")
