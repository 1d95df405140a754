"""Late fusion: each modality gets its own classifier head; their logits are mixed by learned weights.

The modalities never meet before the logits, so the model can only add evidence
from each side. On a task whose answer depends on how image and question relate
(the shapes corpus), that is the point: it marks what interaction-free fusion reaches.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mmbench.models import register_model
from mmbench.models.encoders import check_encoders, encoder_pair, mlp
from mmbench.models.torch_classifier import TorchClassifier


class _LateNet(nn.Module):
    def __init__(self, num_classes: int, image: Any, text: Any, hidden: int) -> None:
        super().__init__()
        self.image_encoder, self.text_encoder = image, text
        self.image_head = mlp(image.out_dim, hidden, num_classes)
        self.text_head = mlp(text.out_dim, hidden, num_classes)
        self.mix = nn.Parameter(torch.zeros(2))  # softmax-normalised weights, equal at start

    def forward(self, images: Any, tokens: Any, lengths: Any) -> Any:
        weights = torch.softmax(self.mix, dim=0)
        return (weights[0] * self.image_head(self.image_encoder(images))
                + weights[1] * self.text_head(self.text_encoder(tokens, lengths)))


@register_model("late-fusion")
class LateFusion(TorchClassifier):
    """Unimodal heads whose logits are combined by a learned convex weighting."""

    def __init__(self, *, image_encoder: str = "cnn", text_encoder: str = "gru", image_dim: int = 64,
                 text_dim: int = 128, embed_dim: int = 64, cnn_width: int = 16,
                 cnn_norm: bool = True, hidden: int = 128,
                 train: dict[str, Any] | None = None, **kwargs: Any) -> None:
        check_encoders(image_encoder, text_encoder)
        super().__init__(image_encoder=image_encoder, text_encoder=text_encoder, image_dim=image_dim,
                         text_dim=text_dim, embed_dim=embed_dim, cnn_width=cnn_width,
                         cnn_norm=cnn_norm, hidden=hidden,
                         train=train, **kwargs)

    def build(self, num_classes: int, vocab_size: int) -> nn.Module:
        image, text = encoder_pair(self.arch, vocab_size, image_size=self.image_size, max_len=self.max_text_len)
        return _LateNet(num_classes, image, text, self.arch["hidden"])
