"""Base for classifiers built from torch modules and trained by `mmbench.train`.

A subclass says which modalities it reads and builds a network whose forward
takes (images, tokens, lengths) and returns logits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mmbench.devices import to_device
from mmbench.loader import Batch, BatchLoader
from mmbench.models.base import FitReport
from mmbench.models.text import Vocabulary
from mmbench.train import TrainConfig, seed_everything, train

TEXT_COLUMNS = ("id", "text", "question", "hypothesis", "captions")


class TorchClassifier:
    uses_images: ClassVar[bool] = True
    uses_text: ClassVar[bool] = True
    registry_name: ClassVar[str] = ""
    # **arch below only collects the keys subclasses name in their own signatures, so the
    # keys a config may hold are exactly those (see mmbench.models.config_keys).
    config_keys_closed: ClassVar[bool] = True

    def __init__(self, *, image_size: int = 32, max_text_len: int = 48, vocab_size: int = 20000,
                 train: dict[str, Any] | None = None, progress: bool = False, **arch: Any) -> None:
        self.image_size = image_size
        self.progress = progress  # a per-epoch bar; display only, so not part of config()
        # Where the network runs: a runtime choice (see use_device), so not part of config().
        self.device = "cpu"
        self.max_text_len = max_text_len
        self.vocab_size = vocab_size
        self.train_config = TrainConfig(**(train or {}))
        self.arch = arch
        self.network: Any = None
        self.vocab: Vocabulary | None = None
        self.num_classes = 0

    def config(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "max_text_len": self.max_text_len,
                "vocab_size": self.vocab_size, "train": self.train_config.to_dict(), **self.arch}

    def build(self, num_classes: int, vocab_size: int) -> Any:
        raise NotImplementedError

    def use_device(self, device: str) -> None:
        """Run on `device` (a resolved torch device string) from now on: the network if there
        is one, and every network fit or load builds later. config() is unchanged."""
        self.device = device
        if self.network is not None:
            self.network.to(device)

    def _loader(self, split: Any, *, shuffle: bool = False, seed: int = 0) -> BatchLoader:
        return BatchLoader(split, batch_size=self.train_config.batch_size,
                           image_size=self.image_size if self.uses_images else None,
                           shuffle=shuffle, seed=seed, num_workers=self.train_config.num_workers)

    @property
    def uses_vocab(self) -> bool:
        # A pretrained text tower brings its own tokenizer; the word vocabulary would go unused.
        return self.uses_text and self.arch.get("text_encoder") != "minilm"

    def text_inputs(self, texts: list[str]) -> tuple[Any, Any]:
        """What the network's text encoder reads: word ids, or cached frozen-tower states."""
        if not self.uses_vocab:
            from mmbench.models.minilm import encode_texts

            return encode_texts(texts, self.max_text_len, device=self.device)
        assert self.vocab is not None
        return self.vocab.encode(texts, self.max_text_len)

    def _build_vocab(self, train_split: Any) -> Vocabulary:
        loader = BatchLoader(train_split, batch_size=1024, image_size=None, columns=TEXT_COLUMNS)
        return Vocabulary.build((t for batch in loader for t in batch.texts), self.vocab_size)

    def logits(self, batch: Batch) -> Any:
        """Logits on the model's device; the inputs are moved there (no-ops when they are)."""
        tokens = lengths = None
        if self.uses_text:
            tokens, lengths = self.text_inputs(batch.texts)
        device = self.device
        return self.network(to_device(batch.images, device), to_device(tokens, device),
                            to_device(lengths, device))

    def _loss(self, network: Any, batch: Batch) -> Any:
        import torch.nn.functional as F

        logits = self.logits(batch)
        return F.cross_entropy(logits, batch.labels.to(logits.device), ignore_index=-1)

    def fit(self, train_split: Any, val_split: Any, *, num_classes: int, seed: int) -> FitReport:
        seed_everything(seed)
        self.num_classes = num_classes
        self.vocab = self._build_vocab(train_split) if self.uses_vocab else Vocabulary([])
        # Built on CPU and moved by the trainer, so the seeded initial weights are the same
        # whichever device trains them.
        self.network = channels_last(self.build(num_classes, len(self.vocab)))
        val_loader = self._loader(val_split) if val_split is not None and len(val_split) else None
        return train(self.network, self._loss, self._loader(train_split, shuffle=True, seed=seed),
                     val_loader, self.train_config, progress=self.progress, device=self.device)

    def predict_proba(self, batch: Batch) -> np.ndarray:
        import torch

        self.network.eval()
        with torch.no_grad():
            return torch.softmax(self.logits(batch).float(), dim=-1).cpu().numpy().astype(np.float64)

    def num_parameters(self) -> int:
        return int(sum(p.numel() for p in self.network.parameters())) if self.network else 0

    def save(self, directory: Path) -> None:
        """Weights as safetensors plus a JSON sidecar; nothing is pickled."""
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        # CPU tensors: a checkpoint written on a GPU loads on a machine without one.
        state = {k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}
        save_file(state, str(directory / "model.safetensors"))
        sidecar = {"config": self.config(), "num_classes": self.num_classes,
                   "vocab": self.vocab.words[2:] if self.vocab else []}
        (directory / "model.json").write_text(json.dumps(sidecar))

    def load(self, directory: Path) -> None:
        """Read only model.safetensors and model.json; any other file there (a pickle) is ignored."""
        from safetensors.torch import load_file

        sidecar = json.loads((directory / "model.json").read_text())
        self.num_classes = int(sidecar["num_classes"])
        self.vocab = Vocabulary(list(sidecar["vocab"]))
        self.network = channels_last(self.build(self.num_classes, len(self.vocab)))
        self.network.load_state_dict(load_file(str(directory / "model.safetensors")))
        self.network.to(self.device).eval()


def channels_last(network: Any) -> Any:
    """`network` with its 4-d weights (convolutions) stored channels-last, in place.

    oneDNN's convolutions run faster on that layout (a concat-fusion step on `shapes`, one
    thread: 23 ms against 33 ms). Fitting and loading both use it, so a network scores the
    same right after its fit and after a round trip through its artifact (load_state_dict
    copies into the existing tensors and keeps their layout)."""
    import torch

    return network.to(memory_format=torch.channels_last)


def read_state_dict(path: Path) -> dict[str, Any]:
    """Tensors from a weights file: safetensors, or a torch pickle read with `weights_only=True`,
    which refuses any object but tensors and plain containers instead of running its code."""
    import torch
    from safetensors.torch import load_file

    if path.suffix == ".safetensors":
        return dict(load_file(str(path)))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict")
    return state
