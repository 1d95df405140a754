"""Majority class: the floor every other model must clear."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mmbench.loader import Batch, column
from mmbench.models import register_model
from mmbench.models.base import FitReport


@register_model("majority")
class MajorityClass:
    """Predicts the training split's class frequencies for every input."""

    uses_images: ClassVar[bool] = False  # reads neither modality
    uses_text: ClassVar[bool] = False

    def __init__(self) -> None:
        self.prior: np.ndarray | None = None

    def config(self) -> dict[str, Any]:
        return {}

    def fit(self, train: Any, val: Any, *, num_classes: int, seed: int) -> FitReport:
        labels = np.asarray(column(train, "label").drop_null().to_numpy(), dtype=np.int64)
        counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
        # A tiny uniform share keeps AUROC defined and log-loss finite.
        self.prior = (counts + 1e-3) / (counts.sum() + 1e-3 * num_classes)
        return FitReport()

    def predict_proba(self, batch: Batch) -> np.ndarray:
        assert self.prior is not None, "fit() first"
        return np.tile(self.prior, (len(batch), 1))

    def num_parameters(self) -> int:
        return 0 if self.prior is None else len(self.prior)

    def save(self, directory: Path) -> None:
        """The class frequencies as safetensors; nothing is pickled."""
        from safetensors.numpy import save_file

        assert self.prior is not None, "fit() first"
        directory.mkdir(parents=True, exist_ok=True)
        save_file({"prior": self.prior}, str(directory / "model.safetensors"))

    def load(self, directory: Path) -> None:
        from safetensors.numpy import load_file

        self.prior = load_file(str(directory / "model.safetensors"))["prior"]
