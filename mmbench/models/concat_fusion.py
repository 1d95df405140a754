"""Early concat fusion, the seed article's model (section 5.2).

Small CNN for the image, embedding + GRU for the text, the two feature vectors
concatenated and classified by an MLP (the article's 64 + 128 -> 256 -> classes; the
default hidden width here is 512, which learned the shapes task reliably across seeds
where 256 sometimes stalled on a loss plateau).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mmbench.models import register_model
from mmbench.models.encoders import GRUText, SmallCNN, mlp
from mmbench.models.torch_classifier import TorchClassifier


class _ConcatNet(nn.Module):
    def __init__(self, num_classes: int, vocab_size: int, image_dim: int, embed_dim: int,
                 text_dim: int, hidden: int) -> None:
        super().__init__()
        self.image_encoder = SmallCNN(image_dim)
        self.text_encoder = GRUText(vocab_size, embed_dim, text_dim)
        self.fusion = mlp(image_dim + text_dim, hidden, num_classes)

    def forward(self, images: Any, tokens: Any, lengths: Any) -> Any:
        fused = torch.cat([self.image_encoder(images), self.text_encoder(tokens, lengths)], dim=1)
        return self.fusion(fused)


@register_model("concat-fusion")
class ConcatFusion(TorchClassifier):
    """Concatenate pooled CNN features with the GRU's final state, then an MLP."""

    def __init__(self, *, image_dim: int = 64, embed_dim: int = 64, text_dim: int = 128,
                 hidden: int = 512, **kwargs: Any) -> None:
        super().__init__(image_dim=image_dim, embed_dim=embed_dim, text_dim=text_dim,
                         hidden=hidden, **kwargs)

    def build(self, num_classes: int, vocab_size: int) -> nn.Module:
        a = self.arch
        return _ConcatNet(num_classes, vocab_size, a["image_dim"], a["embed_dim"], a["text_dim"],
                          a["hidden"])
