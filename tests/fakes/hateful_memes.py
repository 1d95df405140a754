"""Fake Hateful Memes release: integer ids, escaped slashes, no final newline."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes._images import image_bytes

SPLITS = {
    "train": [(8291, 0, "a kind meme"), (42953, 1, "a hateful meme"), (100, 0, "third")],
    "dev_seen": [(8291, 0, "a kind meme")],  # the same meme in two splits, as published
    "test_unseen": [(555, None, "no label here")],
}


def write_fake(root: Path) -> int:
    (root / "img").mkdir(parents=True, exist_ok=True)
    count = 0
    for split, rows in SPLITS.items():
        lines = []
        for meme_id, label, text in rows:
            img = f"img/{meme_id:05d}.png"
            (root / img).write_bytes(image_bytes(meme_id % 97))
            row: dict[str, object] = {"id": meme_id, "img": img, "text": text}
            if label is not None:
                row["label"] = label
            lines.append(json.dumps(row).replace("/", "\\/"))
            count += 1
        (root / f"{split}.jsonl").write_text("\n".join(lines), encoding="utf-8")
    return count
