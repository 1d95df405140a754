"""Low-rank bilinear pooling (MLB; Kim et al., 2017).

A full bilinear map between image and text features has image_dim x text_dim
weights per output; MLB factors it: both features are projected to rank R, squashed
with tanh, multiplied elementwise, and the product is classified by a linear layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mmbench.models import register_model
from mmbench.models.fusion_base import FusionClassifier


class _BilinearNet(nn.Module):
    def __init__(self, num_classes: int, image: Any, text: Any, rank: int, dropout: float) -> None:
        super().__init__()
        self.image_encoder, self.text_encoder = image, text
        self.image_proj = nn.Linear(image.out_dim, rank)
        self.text_proj = nn.Linear(text.out_dim, rank)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(rank, num_classes)

    def forward(self, images: Any, tokens: Any, lengths: Any) -> Any:
        joint = (torch.tanh(self.image_proj(self.image_encoder(images)))
                 * torch.tanh(self.text_proj(self.text_encoder(tokens, lengths))))
        return self.classifier(self.dropout(joint))


@register_model("bilinear-fusion")
class BilinearFusion(FusionClassifier):
    """Rank-R projections of both modalities, elementwise product, linear classifier."""

    def __init__(self, *, rank: int = 256, dropout: float = 0.1, **kwargs: Any) -> None:
        super().__init__(rank=rank, dropout=dropout, **kwargs)

    def build(self, num_classes: int, vocab_size: int) -> nn.Module:
        image, text = self.encoders(vocab_size)
        return _BilinearNet(num_classes, image, text, self.arch["rank"], self.arch["dropout"])
