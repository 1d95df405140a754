"""A majority-class model that appends "<pid> <seed>" to $MMBENCH_TEST_FIT_LOG at each fit
and takes $MMBENCH_TEST_FIT_SLEEP seconds: the concurrency tests count trainings with it.
Registered with `--model-file tests/data/counting_model.py:CountingModel`."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from mmbench.loader import Batch, column
from mmbench.models.base import FitReport


class CountingModel:
    registry_name = "counting"

    def __init__(self) -> None:
        self.prior: np.ndarray | None = None

    def config(self) -> dict[str, Any]:
        return {}

    def fit(self, train: Any, val: Any, *, num_classes: int, seed: int) -> FitReport:
        log = os.environ.get("MMBENCH_TEST_FIT_LOG")
        if log:
            with open(log, "a") as handle:  # one short append: atomic between processes
                handle.write(f"{os.getpid()} {seed}\n")
        time.sleep(float(os.environ.get("MMBENCH_TEST_FIT_SLEEP", "0")))
        labels = np.asarray(column(train, "label").drop_null().to_numpy(), dtype=np.int64)
        counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
        self.prior = (counts + 1e-3) / (counts.sum() + 1e-3 * num_classes)
        return FitReport()

    def predict_proba(self, batch: Batch) -> np.ndarray:
        assert self.prior is not None, "fit() first"
        return np.tile(self.prior, (len(batch), 1))
