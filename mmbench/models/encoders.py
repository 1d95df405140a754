"""Encoders shared by the fusion families. Each maps a modality to a feature vector."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class SmallCNN(nn.Module):
    """The seed article's conv encoder, deepened a little and pooled to a vector.

    The article feeds the raw conv map to the fusion layer, whose shape does not
    match the text features; global average pooling makes it a fixed-size vector.
    """

    def __init__(self, out_dim: int = 64, width: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(width, width * 2, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(width * 2, out_dim, 3, 1, 1), nn.ReLU(),
            nn.AdaptiveMaxPool2d(1),
        )
        self.out_dim = out_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten(1)


class GRUText(nn.Module):
    """Embedding + GRU; the final hidden state of each sequence is its feature."""

    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.gru = nn.GRU(embed_dim, hidden, batch_first=True)
        self.out_dim = hidden

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, last = self.gru(packed)
        return last[-1]


def mlp(in_dim: int, hidden: int, out_dim: int, dropout: float = 0.1) -> nn.Module:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, out_dim))


def count_parameters(module: Any) -> int:
    return int(sum(p.numel() for p in module.parameters()))
