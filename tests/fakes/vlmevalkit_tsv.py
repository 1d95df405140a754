"""Fake VLMEvalKit MCQ TSV: base64 images, a shared image by index, a multi-line cell."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.fakes._images import image_bytes, jpeg_bytes

HEADER = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "image"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def rows() -> list[list[str]]:
    return [
        ["0", "What colour is it?", "", "red", "green", "blue", "grey", "B", "colour",
         _b64(image_bytes(1))],
        # VLMEvalKit stores a repeated image once: this row points at index 0.
        ["1", "Is it a square?", "Look closely", "yes", "no", "", "", "A", "shape", "0"],
        ["2", '"Two\nlines"', "", "one", "two", "three", "", "", "count", _b64(jpeg_bytes(2))],
    ]


def write_fake(root: Path) -> int:
    root.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(HEADER)] + ["\t".join(r) for r in rows()]
    (root / "FAKE_MCQ.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(rows())
