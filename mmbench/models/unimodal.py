"""Unimodal baselines: each sees one modality, so a gap to fusion shows the task needs both."""

from __future__ import annotations

from typing import Any

from torch import nn

from mmbench.models import register_model
from mmbench.models.encoders import GRUText, SmallCNN, mlp
from mmbench.models.torch_classifier import TorchClassifier


class _ImageNet(nn.Module):
    def __init__(self, num_classes: int, feature_dim: int, hidden: int) -> None:
        super().__init__()
        self.encoder = SmallCNN(feature_dim)
        self.head = mlp(feature_dim, hidden, num_classes)

    def forward(self, images: Any, tokens: Any, lengths: Any) -> Any:
        return self.head(self.encoder(images))


class _TextNet(nn.Module):
    def __init__(self, num_classes: int, vocab_size: int, embed_dim: int, hidden: int) -> None:
        super().__init__()
        self.encoder = GRUText(vocab_size, embed_dim, hidden)
        self.head = mlp(hidden, hidden, num_classes)

    def forward(self, images: Any, tokens: Any, lengths: Any) -> Any:
        return self.head(self.encoder(tokens, lengths))


@register_model("image-only")
class ImageOnly(TorchClassifier):
    """Small CNN -> MLP; never reads the text."""

    uses_text = False

    def __init__(self, *, feature_dim: int = 64, hidden: int = 128, **kwargs: Any) -> None:
        super().__init__(feature_dim=feature_dim, hidden=hidden, **kwargs)

    def build(self, num_classes: int, vocab_size: int) -> nn.Module:
        return _ImageNet(num_classes, self.arch["feature_dim"], self.arch["hidden"])


@register_model("text-only")
class TextOnly(TorchClassifier):
    """Embedding + GRU -> MLP; never decodes an image."""

    uses_images = False

    def __init__(self, *, embed_dim: int = 64, hidden: int = 128, **kwargs: Any) -> None:
        super().__init__(embed_dim=embed_dim, hidden=hidden, **kwargs)

    def build(self, num_classes: int, vocab_size: int) -> nn.Module:
        return _TextNet(num_classes, vocab_size, self.arch["embed_dim"], self.arch["hidden"])
