"""Unimodal baselines: each sees one modality, so a gap to fusion shows the task needs both.

Their encoders are standardised like the fusions' (`feature_norm`), so the gap is the fusion's alone.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from mmbench.models import register_model
from mmbench.models.encoders import check_encoders, image_encoder, mlp, standardised, text_encoder
from mmbench.models.torch_classifier import TorchClassifier


class _ImageNet(nn.Module):
    def __init__(self, num_classes: int, encoder: Any, hidden: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = mlp(encoder.out_dim, hidden, num_classes)

    def forward(self, images: Any, tokens: Any, lengths: Any) -> Any:
        return self.head(self.encoder(images))


class _TextNet(nn.Module):
    def __init__(self, num_classes: int, encoder: Any, hidden: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = mlp(encoder.out_dim, hidden, num_classes)

    def forward(self, images: Any, tokens: Any, lengths: Any) -> Any:
        return self.head(self.encoder(tokens, lengths))


@register_model("image-only")
class ImageOnly(TorchClassifier):
    """Small CNN -> MLP; never reads the text."""

    uses_text = False

    def __init__(self, *, image_encoder: str = "cnn", feature_dim: int = 64, cnn_width: int = 16,
                 cnn_norm: bool = True, feature_norm: bool = True, hidden: int = 128, **kwargs: Any) -> None:
        check_encoders(image_encoder, None)
        super().__init__(image_encoder=image_encoder, feature_dim=feature_dim, cnn_width=cnn_width,
                         cnn_norm=cnn_norm, feature_norm=feature_norm, hidden=hidden, **kwargs)

    def build(self, num_classes: int, vocab_size: int) -> nn.Module:
        a = self.arch
        encoder = image_encoder(a["image_encoder"], a["feature_dim"], width=a["cnn_width"],
                                image_size=self.image_size, norm=a["cnn_norm"])
        return _ImageNet(num_classes, standardised(encoder, a["feature_norm"]), a["hidden"])


@register_model("text-only")
class TextOnly(TorchClassifier):
    """Embedding + GRU -> MLP; never decodes an image."""

    uses_images = False

    def __init__(self, *, text_encoder: str = "gru", embed_dim: int = 64, hidden: int = 128,
                 feature_norm: bool = True, **kwargs: Any) -> None:
        check_encoders(None, text_encoder)
        super().__init__(text_encoder=text_encoder, embed_dim=embed_dim, hidden=hidden,
                         feature_norm=feature_norm, **kwargs)

    def build(self, num_classes: int, vocab_size: int) -> nn.Module:
        a = self.arch
        encoder = text_encoder(a["text_encoder"], vocab_size, a["hidden"], embed_dim=a["embed_dim"],
                               max_len=self.max_text_len)
        return _TextNet(num_classes, standardised(encoder, a["feature_norm"]), a["hidden"])
