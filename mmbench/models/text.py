"""A word-level vocabulary built from the training split only."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

TOKEN = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")
PAD, UNK = 0, 1


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


class Vocabulary:
    def __init__(self, words: list[str]) -> None:
        self.words = ["<pad>", "<unk>", *words]
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, texts: Iterable[str], max_size: int = 20000, min_count: int = 1) -> Vocabulary:
        counts = Counter(tok for text in texts for tok in tokenize(text))
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(ranked[:max_size])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, texts: list[str], max_len: int = 48) -> tuple[Any, Any]:
        """Padded LongTensor [B, T] and lengths [B] (at least 1, so empty texts stay valid)."""
        import torch

        ids = [[self.index.get(t, UNK) for t in tokenize(text)][:max_len] or [PAD] for text in texts]
        width = max(len(row) for row in ids)
        out = torch.zeros((len(ids), width), dtype=torch.long)
        for i, row in enumerate(ids):
            out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        lengths = torch.tensor([len(row) for row in ids], dtype=torch.long)
        return out, lengths
