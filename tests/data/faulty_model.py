"""A majority-class model that fails on purpose, for the fault tests, as
$MMBENCH_TEST_FAULT says:

- `raise`: every fit raises;
- `raise-once:PATH`: the first fit (the one that finds no file at PATH, and creates it)
  raises, later ones succeed;
- `kill-once:PATH`: the first fit kills its own process with SIGKILL, later ones succeed;
- unset: it never fails. $MMBENCH_TEST_FIT_SLEEP seconds of sleep per fit.

Registered with `--model-file tests/data/faulty_model.py:FaultyModel` (name `faulty`)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np

from mmbench.loader import Batch, column
from mmbench.models.base import FitReport


class InjectedFault(RuntimeError):
    pass


def _first_time(path: str) -> bool:
    try:
        Path(path).touch(exist_ok=False)
    except FileExistsError:
        return False
    return True


class FaultyModel:
    registry_name = "faulty"

    def __init__(self) -> None:
        self.prior: np.ndarray | None = None

    def config(self) -> dict[str, Any]:
        return {}

    def fit(self, train: Any, val: Any, *, num_classes: int, seed: int) -> FitReport:
        fault, _, marker = os.environ.get("MMBENCH_TEST_FAULT", "").partition(":")
        time.sleep(float(os.environ.get("MMBENCH_TEST_FIT_SLEEP", "0")))
        if fault == "raise" or (fault == "raise-once" and _first_time(marker)):
            raise InjectedFault(f"injected fault in the fit of seed {seed}")
        if fault == "kill-once" and _first_time(marker):
            os.kill(os.getpid(), signal.SIGKILL)
        labels = np.asarray(column(train, "label").drop_null().to_numpy(), dtype=np.int64)
        counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
        self.prior = (counts + 1e-3) / (counts.sum() + 1e-3 * num_classes)
        return FitReport()

    def predict_proba(self, batch: Batch) -> np.ndarray:
        assert self.prior is not None, "fit() first"
        return np.tile(self.prior, (len(batch), 1))
