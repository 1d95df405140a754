"""What every fusion family shares: an image encoder and a text encoder, configured alike."""

from __future__ import annotations

from typing import Any

from mmbench.models.encoders import check_encoders, encoder_pair
from mmbench.models.torch_classifier import TorchClassifier


class FusionClassifier(TorchClassifier):
    """A TorchClassifier over one image and one text encoder; subclasses add their fusion's knobs.

    Encoder keywords: image_encoder ("cnn" | "vit"), text_encoder ("gru" | "bag" |
    "transformer" | "minilm"), image_dim, text_dim, embed_dim, cnn_width, cnn_norm, and
    feature_norm (each modality's features standardised before they meet, see
    `mmbench.models.encoders.Standardised`).
    """

    def __init__(self, *, image_encoder: str = "cnn", text_encoder: str = "gru", image_dim: int = 64,
                 text_dim: int = 128, embed_dim: int = 64, cnn_width: int = 16, cnn_norm: bool = True,
                 feature_norm: bool = True, **kwargs: Any) -> None:
        check_encoders(image_encoder, text_encoder)
        super().__init__(image_encoder=image_encoder, text_encoder=text_encoder, image_dim=image_dim,
                         text_dim=text_dim, embed_dim=embed_dim, cnn_width=cnn_width, cnn_norm=cnn_norm,
                         feature_norm=feature_norm, **kwargs)

    def encoders(self, vocab_size: int) -> tuple[Any, Any]:
        """Fresh (image, text) encoders as configured."""
        return encoder_pair(self.arch, vocab_size, image_size=self.image_size, max_len=self.max_text_len)
