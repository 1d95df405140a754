"""Gated multimodal unit (GMU; Arevalo et al., 2017).

Each modality is mapped to a shared width through tanh; a sigmoid gate computed from
both raw features decides, unit by unit, how much of each to keep:
z = sigmoid(W_z [h_img; h_txt]),  h = z * tanh(W_i h_img) + (1 - z) * tanh(W_t h_txt).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mmbench.models import register_model
from mmbench.models.encoders import mlp
from mmbench.models.fusion_base import FusionClassifier


class _GMUNet(nn.Module):
    def __init__(self, num_classes: int, image: Any, text: Any, hidden: int) -> None:
        super().__init__()
        self.image_encoder, self.text_encoder = image, text
        self.image_map = nn.Linear(image.out_dim, hidden)
        self.text_map = nn.Linear(text.out_dim, hidden)
        self.gate = nn.Linear(image.out_dim + text.out_dim, hidden)
        self.head = mlp(hidden, hidden, num_classes)

    def forward(self, images: Any, tokens: Any, lengths: Any) -> Any:
        h_img = self.image_encoder(images)
        h_txt = self.text_encoder(tokens, lengths)
        z = torch.sigmoid(self.gate(torch.cat([h_img, h_txt], dim=1)))
        fused = z * torch.tanh(self.image_map(h_img)) + (1 - z) * torch.tanh(self.text_map(h_txt))
        return self.head(fused)


@register_model("gated-fusion")
class GatedFusion(FusionClassifier):
    """A GMU over the pooled image and text features, then an MLP."""

    def __init__(self, *, hidden: int = 256, **kwargs: Any) -> None:
        super().__init__(hidden=hidden, **kwargs)

    def build(self, num_classes: int, vocab_size: int) -> nn.Module:
        image, text = self.encoders(vocab_size)
        return _GMUNet(num_classes, image, text, self.arch["hidden"])
