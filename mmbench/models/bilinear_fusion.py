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
from mmbench.models.encoders import check_encoders, encoder_pair
from mmbench.models.torch_classifier import TorchClassifier


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
class BilinearFusion(TorchClassifier):
    """Rank-R projections of both modalities, elementwise product, linear classifier."""

    def __init__(self, *, image_encoder: str = "cnn", text_encoder: str = "gru", image_dim: int = 64,
                 text_dim: int = 128, embed_dim: int = 64, cnn_width: int = 16,
                 cnn_norm: bool = True, rank: int = 256,
                 dropout: float = 0.1, train: dict[str, Any] | None = None, **kwargs: Any) -> None:
        check_encoders(image_encoder, text_encoder)
        super().__init__(image_encoder=image_encoder, text_encoder=text_encoder, image_dim=image_dim,
                         text_dim=text_dim, embed_dim=embed_dim, cnn_width=cnn_width,
                         cnn_norm=cnn_norm, rank=rank,
                         dropout=dropout,
                         train=train, **kwargs)

    def build(self, num_classes: int, vocab_size: int) -> nn.Module:
        image, text = encoder_pair(self.arch, vocab_size, image_size=self.image_size, max_len=self.max_text_len)
        return _BilinearNet(num_classes, image, text, self.arch["rank"], self.arch["dropout"])
