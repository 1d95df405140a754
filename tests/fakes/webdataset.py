"""Fake WebDataset corpus: two split folders of shards (plain tar and gzipped tar)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from tests.fakes._images import image_bytes, jpeg_bytes

Members = list[tuple[str, bytes]]


def write_tar(path: Path, members: Members, gz: bool = False) -> Path:
    """Write regular-file members in the given order (WebDataset keeps a sample's together)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz" if gz else "w") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def write_fake(root: Path) -> int:
    (root / "classnames.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "classnames.txt").write_text("cat\ndog\n")
    write_tar(root / "train" / "000000.tar", [
        ("s000.jpg", jpeg_bytes(1)),
        ("s000.txt", b"a cat on a mat\na sleepy cat\n"),
        ("s000.cls", b"0"),
        ("s001.png", image_bytes(2)),
        ("s001.json", json.dumps({"caption": "a dog", "label": 1, "url": "x"}).encode()),
        ("sub/s002.png", image_bytes(3)),
        ("sub/s002.cls", b"dog"),
    ])
    write_tar(root / "test" / "000000.tar.gz", [
        ("t000.jpg", jpeg_bytes(4)),
        ("t000.txt", "un chat, à Paris".encode()),
        ("t001.png", image_bytes(5)),
        ("t001.cls", b"1"),
    ], gz=True)
    return 5
