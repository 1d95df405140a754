"""Encoders shared by the fusion families.

Every encoder's `forward` returns one pooled vector per example; `encode` returns an
`Encoded` with the pooled vector and the token sequence behind it (image patches or
CNN cells, text tokens) plus a validity mask, for the fusions that attend over tokens.
Image encoders also accept a `modulate(stage, x)` hook that FiLM uses to rescale
their features stage by stage. `Standardised` wraps an encoder so that its features
leave it standardised across the batch (see there for why the trained families use it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn

IMAGE_ENCODERS = ("cnn", "vit")
TEXT_ENCODERS = ("gru", "bag", "transformer", "minilm")
Modulate = Callable[[int, torch.Tensor], torch.Tensor]


class Encoded(NamedTuple):
    pooled: torch.Tensor  # [B, D]
    tokens: torch.Tensor  # [B, N, D]
    mask: torch.Tensor  # [B, N] bool, True where a token is real (not padding)


def length_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.to(tokens.dtype)[..., None]
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def _all_valid(tokens: torch.Tensor) -> torch.Tensor:
    return torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)


class SmallCNN(nn.Module):
    """The seed article's conv encoder, deepened a little and max-pooled to a vector.

    The article feeds the raw conv map to the fusion layer, whose shape does not
    match the text features; global pooling makes it a fixed-size vector. The 8x8
    cells of the last conv map (for 32x32 input) are the token sequence.

    Two choices that change the speed, not the function (a training step alone, one thread,
    batch 32: 0.85 -> 0.62 ms per image; a whole fit gains less): activations are channels-last,
    which oneDNN's convolutions, batch norm and pooling run faster on CPU; and each stage
    pools before its ReLU, which gives the same values (a maximum commutes with a
    non-decreasing function) on a quarter of the elements.
    """

    def __init__(self, out_dim: int = 64, width: int = 16, norm: bool = False) -> None:
        super().__init__()
        dims = [3, width, width * 2, out_dim]
        layers: list[nn.Module] = []
        for i in range(3):
            layers.append(nn.Conv2d(dims[i], dims[i + 1], 3, 1, 1))
            if norm:  # batch norm speeds up training a lot; off by default to keep the article's net
                layers.append(nn.BatchNorm2d(dims[i + 1]))
            if i < 2:  # (parameter-free layers: the state-dict keys are those of ReLU-then-pool)
                layers.append(nn.MaxPool2d(2, 2))
            layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1))
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.out_dim = out_dim
        self.stage_dims = dims[1:]  # channels of each conv stage

    def feature_map(self, images: torch.Tensor, modulate: Modulate | None = None) -> torch.Tensor:
        """The last conv map [B, C, H, W] (channels-last in memory); `modulate` sees each
        stage's full-resolution output just before its pooling and ReLU."""
        x, stage, stage_open = images.contiguous(memory_format=torch.channels_last), 0, False
        for layer in list(self.net)[:-1]:
            if isinstance(layer, nn.Conv2d):
                stage_open = True
            elif isinstance(layer, (nn.MaxPool2d, nn.ReLU)) and stage_open:
                if modulate is not None:
                    x = modulate(stage, x)
                stage, stage_open = stage + 1, False
            x = layer(x)
        return x

    def encode(self, images: torch.Tensor, modulate: Modulate | None = None) -> Encoded:
        fmap = self.feature_map(images, modulate)
        tokens = fmap.permute(0, 2, 3, 1).flatten(1, 2)  # [B, H*W, C], a view of channels-last memory
        return Encoded(fmap.amax(dim=(2, 3)), tokens, _all_valid(tokens))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.feature_map(images).amax(dim=(2, 3))


def _block(dim: int, heads: int) -> nn.TransformerEncoderLayer:
    # Pre-norm and no dropout: small models on small data train faster and more stably so.
    return nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0,
                                      batch_first=True, norm_first=True)


class TinyViT(nn.Module):
    """Patch embedding conv, learned positions, a few transformer layers, mean or CLS pooling."""

    def __init__(self, image_size: int = 32, patch: int = 4, dim: int = 64, depth: int = 2,
                 heads: int = 4, pool: str = "mean") -> None:
        super().__init__()
        if pool not in ("mean", "cls"):
            raise ValueError(f"TinyViT pool must be 'mean' or 'cls', got {pool!r}")
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        grid = image_size // patch
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, grid * grid + 1, dim) * 0.02)
        self.layers = nn.ModuleList([_block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.pool = pool
        self.out_dim = dim
        self.stage_dims = [dim] * (depth + 1)  # after the patch embedding and each layer

    def encode(self, images: torch.Tensor, modulate: Modulate | None = None) -> Encoded:
        x = self.patch_embed(images).flatten(2).transpose(1, 2)
        if modulate is not None:
            x = modulate(0, x)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos[:, : x.shape[1] + 1]
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if modulate is not None:
                x = torch.cat([x[:, :1], modulate(i + 1, x[:, 1:])], dim=1)
        x = self.norm(x)
        patches = x[:, 1:]
        pooled = x[:, 0] if self.pool == "cls" else patches.mean(dim=1)
        return Encoded(pooled, patches, _all_valid(patches))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encode(images).pooled


class GRUText(nn.Module):
    """Embedding + GRU; the final hidden state of each sequence is its feature."""

    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.gru = nn.GRU(embed_dim, hidden, batch_first=True)
        self.out_dim = hidden

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> Encoded:
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, last = self.gru(packed)
        seq, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
        return Encoded(last[-1], seq, length_mask(lengths, tokens.shape[1]))

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.encode(tokens, lengths).pooled


class BagText(nn.Module):
    """Mean of the token embeddings, then a linear map: order-blind and very cheap."""

    def __init__(self, vocab_size: int, embed_dim: int = 64, out_dim: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.proj = nn.Linear(embed_dim, out_dim)
        self.out_dim = out_dim

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> Encoded:
        seq = self.proj(self.embed(tokens))
        mask = length_mask(lengths, tokens.shape[1])
        return Encoded(masked_mean(seq, mask), seq, mask)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.encode(tokens, lengths).pooled


class TransformerText(nn.Module):
    """Token + learned position embeddings, a few transformer layers with a padding mask, mean pooled."""

    def __init__(self, vocab_size: int, dim: int = 128, depth: int = 2, heads: int = 4,
                 max_len: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.pos = nn.Parameter(torch.randn(1, max_len, dim) * 0.02)
        self.layers = nn.ModuleList([_block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.out_dim = dim

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> Encoded:
        mask = length_mask(lengths, tokens.shape[1])
        x = self.embed(tokens) + self.pos[:, : tokens.shape[1]]
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=~mask)
        x = self.norm(x) * mask[..., None]  # padded positions are zeroed, not left as noise
        return Encoded(masked_mean(x, mask), x, mask)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.encode(tokens, lengths).pooled


class Standardised(nn.Module):
    """An encoder whose pooled vector and real tokens are batch-normalised, feature by feature.

    Why: at initialisation the GRU's final state hardly varies between questions (across a
    batch of `shapes`, feature SD 0.09 against 0.58 for the CNN's pooled features), since
    the word that matters sits a few steps before the end. The fusion's units are then
    switched by the image alone, and learning the image-text interaction is a slow saddle
    that some seeds leave in two epochs and others never (on `shapes`: colour questions
    answered, shape and binding questions at chance, accuracy 0.70).
    With both modalities standardised they have equal say from the first step. Padding
    tokens stay zero and do not enter the statistics. A training batch of one sample, which
    has no spread to normalise by, is scaled by the running statistics instead.
    """

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.out_dim: int = inner.out_dim  # type: ignore[assignment]
        self.stage_dims: list[int] = list(getattr(inner, "stage_dims", []))
        self.pooled_norm = nn.BatchNorm1d(self.out_dim)
        self.token_norm = nn.BatchNorm1d(self.out_dim)

    def _normalise(self, norm: nn.BatchNorm1d, rows: torch.Tensor) -> torch.Tensor:
        if self.training and rows.shape[0] < 2:
            return nn.functional.batch_norm(rows, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                                            training=False, eps=norm.eps)
        return norm(rows)

    def _normalise_tokens(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Batch norm over the real tokens of [B, N, D], by weighting with the mask rather than
        selecting with it: no data-dependent shapes, so no device sync and no `nonzero`."""
        norm = self.token_norm
        assert norm.running_mean is not None and norm.running_var is not None
        weights = mask.to(tokens.dtype)[..., None]
        if self.training and tokens.shape[0] >= 2:
            count = weights.sum().clamp(min=2.0)
            mean = (tokens * weights).sum(dim=(0, 1)) / count
            var = ((tokens - mean) ** 2 * weights).sum(dim=(0, 1)) / count
            with torch.no_grad():
                norm.running_mean.lerp_(mean.detach(), norm.momentum or 0.1)
                norm.running_var.lerp_(var.detach() * count / (count - 1), norm.momentum or 0.1)
                if norm.num_batches_tracked is not None:
                    norm.num_batches_tracked.add_(1)
        else:
            mean, var = norm.running_mean, norm.running_var
        return ((tokens - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias) * weights

    def encode(self, *inputs: Any, **options: Any) -> Encoded:
        encoded = self.inner.encode(*inputs, **options)  # type: ignore[operator]
        return Encoded(self._normalise(self.pooled_norm, encoded.pooled),
                       self._normalise_tokens(encoded.tokens, encoded.mask), encoded.mask)

    def forward(self, *inputs: Any) -> torch.Tensor:
        return self._normalise(self.pooled_norm, self.inner(*inputs))


def image_encoder(kind: str, out_dim: int, *, width: int = 16, image_size: int = 32, norm: bool = False) -> Any:
    """'cnn' (SmallCNN) or 'vit' (TinyViT, 4x4 patches, 2 layers)."""
    if kind == "cnn":
        return SmallCNN(out_dim, width, norm)
    if kind == "vit":
        return TinyViT(image_size, patch=4, dim=out_dim, depth=2, heads=4)
    raise ValueError(f"image_encoder must be one of {IMAGE_ENCODERS}, got {kind!r}")


def text_encoder(kind: str, vocab_size: int, out_dim: int, *, embed_dim: int = 64, max_len: int = 48) -> Any:
    """'gru', 'bag', 'transformer', or 'minilm' (a frozen pretrained tower; see `mmbench.models.minilm`)."""
    if kind == "gru":
        return GRUText(vocab_size, embed_dim, out_dim)
    if kind == "bag":
        return BagText(vocab_size, embed_dim, out_dim)
    if kind == "transformer":
        return TransformerText(vocab_size, out_dim, depth=2, heads=4, max_len=max_len)
    if kind == "minilm":
        from mmbench.models.minilm import MiniLMText

        return MiniLMText(out_dim)
    raise ValueError(f"text_encoder must be one of {TEXT_ENCODERS}, got {kind!r}")


def standardised(encoder: Any, on: bool) -> Any:
    """`encoder` wrapped in `Standardised` when `on` (a model's `feature_norm` key)."""
    return Standardised(encoder) if on else encoder


def encoder_pair(arch: dict[str, Any], vocab_size: int, *, image_size: int, max_len: int) -> tuple[Any, Any]:
    """The (image, text) encoders a fusion's config names (keys image_encoder, text_encoder,
    image_dim, text_dim, embed_dim, cnn_width, cnn_norm, feature_norm)."""
    image = image_encoder(arch["image_encoder"], arch["image_dim"], width=arch["cnn_width"], image_size=image_size,
                          norm=arch.get("cnn_norm", False))
    text = text_encoder(arch["text_encoder"], vocab_size, arch["text_dim"], embed_dim=arch["embed_dim"],
                        max_len=max_len)
    on = arch.get("feature_norm", False)
    return standardised(image, on), standardised(text, on)


def check_encoders(image: str | None, text: str | None) -> None:
    """Fail at construction, not mid-fit, on an unknown encoder name."""
    if image is not None and image not in IMAGE_ENCODERS:
        raise ValueError(f"image_encoder must be one of {IMAGE_ENCODERS}, got {image!r}")
    if text is not None and text not in TEXT_ENCODERS:
        raise ValueError(f"text_encoder must be one of {TEXT_ENCODERS}, got {text!r}")


def mlp(in_dim: int, hidden: int, out_dim: int, dropout: float = 0.1) -> nn.Module:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, out_dim))
