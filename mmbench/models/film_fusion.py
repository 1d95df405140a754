"""FiLM fusion (Perez et al., 2018): the question rescales the image features channel by channel.

From the pooled text feature a linear layer predicts a (gamma, beta) pair for every
channel of every stage of the image encoder (each conv of the CNN, each layer of the
ViT); a stage's output x becomes (1 + gamma) * x + beta before its nonlinearity. The
layer starts at zero, so training begins from the unmodulated image encoder.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mmbench.models import register_model
from mmbench.models.encoders import mlp
from mmbench.models.fusion_base import FusionClassifier


class _FiLMNet(nn.Module):
    def __init__(self, num_classes: int, image: Any, text: Any, hidden: int) -> None:
        super().__init__()
        self.image_encoder, self.text_encoder = image, text
        self.stage_dims = list(image.stage_dims)
        self.film = nn.Linear(text.out_dim, 2 * sum(self.stage_dims))
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.head = mlp(image.out_dim, hidden, num_classes)

    def forward(self, images: Any, tokens: Any, lengths: Any) -> Any:
        params = self.film(self.text_encoder(tokens, lengths))
        pairs = [p.chunk(2, dim=1) for p in params.split([2 * d for d in self.stage_dims], dim=1)]

        def modulate(stage: int, x: torch.Tensor) -> torch.Tensor:
            gamma, beta = pairs[stage]
            # Channels are dim 1 of a conv map [B, C, H, W] and the last dim of tokens [B, N, C].
            shape = (x.shape[0], -1, 1, 1) if x.dim() == 4 else (x.shape[0], 1, -1)
            return x * (1 + gamma.reshape(shape)) + beta.reshape(shape)

        return self.head(self.image_encoder.encode(images, modulate).pooled)


@register_model("film-fusion")
class FiLMFusion(FusionClassifier):
    """Text-predicted per-channel scale and shift on every image-encoder stage, then pool and classify."""

    def __init__(self, *, hidden: int = 128, **kwargs: Any) -> None:
        super().__init__(hidden=hidden, **kwargs)

    def build(self, num_classes: int, vocab_size: int) -> nn.Module:
        image, text = self.encoders(vocab_size)
        return _FiLMNet(num_classes, image, text, self.arch["hidden"])
