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
from mmbench.models.encoders import mlp
from mmbench.models.fusion_base import FusionClassifier


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
class LateFusion(FusionClassifier):
    """Unimodal heads whose logits are combined by a learned convex weighting."""

    def __init__(self, *, hidden: int = 128, **kwargs: Any) -> None:
        super().__init__(hidden=hidden, **kwargs)

    def build(self, num_classes: int, vocab_size: int) -> nn.Module:
        image, text = self.encoders(vocab_size)
        return _LateNet(num_classes, image, text, self.arch["hidden"])
