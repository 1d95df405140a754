"""What a model is, by capability. A model never sees a dataset name.

- `Classifier`: trained under the harness protocol (`fit(train, val)`), then
  `predict_proba(batch)`.
- `DualEncoder`: `embed_images(batch)` and `embed_texts(texts)`.
A model may be both; either may also be `DeviceAware` (`use_device(device)`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from mmbench.loader import Batch


@dataclass
class FitReport:
    epochs: int = 0
    steps: int = 0
    best_epoch: int = 0
    best_val_loss: float | None = None
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


@runtime_checkable
class Classifier(Protocol):
    def fit(self, train: Any, val: Any, *, num_classes: int, seed: int) -> FitReport: ...

    def predict_proba(self, batch: Batch) -> np.ndarray: ...


@runtime_checkable
class DualEncoder(Protocol):
    def embed_images(self, batch: Batch) -> np.ndarray: ...

    def embed_texts(self, texts: list[str]) -> np.ndarray: ...


@runtime_checkable
class DeviceAware(Protocol):
    """Optional: a model that can run on a torch device. The runner calls `use_device` after
    constructing or loading the model and before fit/predict; networks built later (in fit or
    load) land there too. Outputs stay CPU numpy, and the device is not part of `config()`."""

    def use_device(self, device: str) -> None: ...


def config_hash(name: str, config: dict[str, Any]) -> str:
    """Stable short hash of a model's name and explicit configuration."""
    payload = json.dumps({"model": name, "config": config}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
