"""`tiny-clip`: a small CLIP-style dual encoder trained contrastively under the harness.

A SmallCNN image tower and a GRU (or bag-of-embeddings) text tower, each followed by a
linear projection into one shared space and L2-normalised. The loss is symmetric
InfoNCE over the batch with a learnable log logit-scale, clamped so the scale stays
within [1, 100] as in CLIP. Training uses the shared trainer (`mmbench.train.train`):
each epoch pairs every image with one of its captions drawn at random (its primary
text when it has no captions); rows without any text are left out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmbench.devices import to_device
from mmbench.loader import Batch, BatchLoader, primary_text
from mmbench.models import register_model
from mmbench.models.base import FitReport
from mmbench.models.encoders import GRUText, SmallCNN
from mmbench.models.text import Vocabulary
from mmbench.train import TrainConfig, seed_everything, train

TEXT_COLUMNS = ("id", "text", "question", "hypothesis", "captions")
MAX_LOG_SCALE = math.log(100.0)
# Contrastive learning wants wide batches (more negatives) and fewer epochs than the
# fusion classifiers; a suite's `train:` config overrides any of these. The bag-of-embeddings
# text tower is the default because the packed GRU cost about 3x the whole image tower
# per step on CPU, for captions a few words long.
DEFAULT_TRAIN = {"epochs": 10, "batch_size": 128, "lr": 2e-3, "patience": 3, "min_epochs": 3}


class BagText(nn.Module):
    """Mean of the token embeddings: an order-blind text tower, cheaper than the GRU."""

    def __init__(self, vocab_size: int, embed_dim: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.out_dim = embed_dim

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = (torch.arange(tokens.shape[1], device=tokens.device)[None, :] < lengths[:, None]).float()
        summed = (self.embed(tokens) * mask[..., None]).sum(dim=1)
        return summed / lengths.clamp(min=1)[:, None].float()


class _CLIPNet(nn.Module):
    def __init__(self, vocab_size: int, arch: dict[str, Any]) -> None:
        super().__init__()
        self.image_encoder = SmallCNN(arch["image_dim"], arch["width"])
        text: nn.Module
        if arch["text_encoder"] == "gru":
            text = GRUText(vocab_size, arch["embed_dim"], arch["text_dim"])
        elif arch["text_encoder"] == "bag":
            text = BagText(vocab_size, arch["embed_dim"])
        else:
            raise ValueError(f"tiny-clip: text_encoder must be 'gru' or 'bag', got {arch['text_encoder']!r}")
        self.text_encoder = text
        self.image_proj = nn.Linear(arch["image_dim"], arch["proj_dim"])
        self.text_proj = nn.Linear(int(text.out_dim), arch["proj_dim"])
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / arch["temperature"])))

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_proj(self.image_encoder(images)), dim=-1)

    def encode_texts(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_proj(self.text_encoder(tokens, lengths)), dim=-1)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[B, B] image-to-text logits; the clamp stops the scale's gradient at its bounds."""
        scale = self.log_scale.clamp(0.0, MAX_LOG_SCALE).exp()
        return scale * self.encode_images(images) @ self.encode_texts(tokens, lengths).T


def info_nce(logits: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE: pair i is the positive of row i and of column i."""
    targets = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def caption_table(split: Any) -> dict[str, list[str]]:
    """Record id -> the texts it may be paired with (its captions, else its primary text)."""
    out: dict[str, list[str]] = {}
    for row in split.to_table(TEXT_COLUMNS).to_pylist():
        captions = [c for c in (row.get("captions") or []) if c]
        text = primary_text(row)
        out[row["id"]] = captions or ([text] if text else [])
    return out


class CaptionLoader(BatchLoader):
    """A BatchLoader whose texts are one caption per image, redrawn every epoch."""

    def __init__(self, dataset: Any, captions: dict[str, list[str]], **kwargs: Any) -> None:
        super().__init__(dataset, columns=("id", "images"), **kwargs)
        self.captions = captions

    def __iter__(self) -> Any:
        rng = np.random.default_rng((self.seed, self.epoch, 1))
        for batch in super().__iter__():
            batch.texts = [self._draw(self.captions[i], rng) for i in batch.ids]
            yield batch

    @staticmethod
    def _draw(options: list[str], rng: np.random.Generator) -> str:
        return options[int(rng.integers(len(options)))] if len(options) > 1 else options[0]


def _with_text(split: Any, captions: dict[str, list[str]]) -> Any:
    ids = split.column("id").to_pylist()
    keep = [i for i, rid in enumerate(ids) if captions.get(rid)]
    return split if len(keep) == len(ids) else split.select(keep)


@register_model("tiny-clip")
class TinyCLIP:
    """CLIP in miniature: contrastive image-text training, normalised embeddings."""

    registry_name: ClassVar[str] = "tiny-clip"
    uses_images: ClassVar[bool] = True

    def __init__(self, *, image_size: int = 32, max_text_len: int = 32, vocab_size: int = 20000,
                 text_encoder: str = "bag", image_dim: int = 64, width: int = 16, embed_dim: int = 64,
                 text_dim: int = 128, proj_dim: int = 64, temperature: float = 0.07,
                 train: dict[str, Any] | None = None) -> None:
        self.image_size = image_size
        self.max_text_len = max_text_len
        self.vocab_size = vocab_size
        self.arch: dict[str, Any] = {"text_encoder": text_encoder, "image_dim": image_dim, "width": width,
                     "embed_dim": embed_dim, "text_dim": text_dim, "proj_dim": proj_dim,
                     "temperature": temperature}
        self.train_config = TrainConfig(**{**DEFAULT_TRAIN, **(train or {})})
        self.network: Any = None
        self.vocab: Vocabulary | None = None
        self.device = "cpu"  # a runtime choice (see use_device), so not part of config()

    def config(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "max_text_len": self.max_text_len,
                "vocab_size": self.vocab_size, **self.arch, "train": self.train_config.to_dict()}

    def use_device(self, device: str) -> None:
        """Run on `device` from now on: the network if fitted, and any that fit or load builds."""
        self.device = device
        if self.network is not None:
            self.network.to(device)

    def _tokens(self, texts: list[str]) -> tuple[Any, Any]:
        assert self.vocab is not None
        tokens, lengths = self.vocab.encode(texts, self.max_text_len)
        return tokens.to(self.device), lengths.to(self.device)

    def _loss(self, network: Any, batch: Batch) -> Any:
        tokens, lengths = self._tokens(batch.texts)
        return info_nce(network(to_device(batch.images, self.device), tokens, lengths))

    def fit_contrastive(self, train_split: Any, val_split: Any | None, *, seed: int) -> FitReport:
        seed_everything(seed)
        captions = caption_table(train_split)
        self.vocab = Vocabulary.build((c for caps in captions.values() for c in caps), self.vocab_size)
        self.network = _CLIPNet(len(self.vocab), self.arch)
        cfg = self.train_config
        loader = CaptionLoader(_with_text(train_split, captions), captions, batch_size=cfg.batch_size,
                               image_size=self.image_size, shuffle=True, seed=seed,
                               num_workers=cfg.num_workers)
        val_loader = None
        if val_split is not None and len(val_split):
            # Validation pairs each image with its first caption, the same every epoch.
            val = _with_text(val_split, caption_table(val_split))
            val_loader = BatchLoader(val, batch_size=cfg.batch_size, image_size=self.image_size) if len(val) else None
        # Built on CPU, moved by the trainer: the same seeded initial weights on any device.
        return train(self.network, self._loss, loader, val_loader, cfg, device=self.device)

    def _require_fitted(self) -> None:
        if self.network is None or self.vocab is None:
            raise RuntimeError("tiny-clip is not trained: call fit_contrastive() or load() first")

    def embed_images(self, batch: Batch) -> np.ndarray:
        self._require_fitted()
        if batch.images is None:
            raise ValueError("tiny-clip needs decoded images (a BatchLoader with image_size set)")
        self.network.eval()
        with torch.no_grad():
            images = batch.images.to(self.device)
            return self.network.encode_images(images).float().cpu().numpy().astype(np.float32)

    def embed_texts(self, texts: list[str], batch_size: int = 512) -> np.ndarray:
        self._require_fitted()
        assert self.vocab is not None
        self.network.eval()
        parts = [np.zeros((0, self.arch["proj_dim"]), dtype=np.float32)]
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                tokens, lengths = self._tokens(texts[start:start + batch_size])
                parts.append(self.network.encode_texts(tokens, lengths).float().cpu().numpy().astype(np.float32))
        return np.concatenate(parts)

    def logit_scale(self) -> float:
        self._require_fitted()
        return float(self.network.log_scale.detach().clamp(0.0, MAX_LOG_SCALE).exp())

    def num_parameters(self) -> int:
        return int(sum(p.numel() for p in self.network.parameters())) if self.network is not None else 0

    def save(self, directory: Path) -> None:
        """Weights as safetensors plus a JSON sidecar (config and vocabulary); nothing pickled."""
        from safetensors.torch import save_file

        self._require_fitted()
        assert self.vocab is not None
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}  # loads anywhere
        save_file(state, str(directory / "model.safetensors"))
        sidecar = {"model": self.registry_name, "config": self.config(), "vocab": self.vocab.words[2:]}
        (directory / "model.json").write_text(json.dumps(sidecar))

    def load(self, directory: Path) -> None:
        from safetensors.torch import load_file

        sidecar = json.loads((directory / "model.json").read_text())
        saved = sidecar["config"]  # the saved architecture wins over this instance's
        self.image_size, self.max_text_len = int(saved["image_size"]), int(saved["max_text_len"])
        self.arch = {k: saved[k] for k in self.arch}
        self.vocab_size, self.train_config = int(saved["vocab_size"]), TrainConfig(**saved["train"])
        self.vocab = Vocabulary(list(sidecar["vocab"]))
        self.network = _CLIPNet(len(self.vocab), self.arch)
        self.network.load_state_dict(load_file(str(directory / "model.safetensors")))
        self.network.to(self.device).eval()
