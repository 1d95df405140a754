"""The majority-class model, failing on purpose, for the fault tests, as
$MMBENCH_TEST_FAULT says:

- `raise`: every fit raises;
- `raise-once:PATH`: the first fit (the one that finds no file at PATH, and creates it)
  raises, later ones succeed;
- `kill-once:PATH`: the first fit kills its own process with SIGKILL, later ones succeed;
- unset: it never fails. $MMBENCH_TEST_FIT_SLEEP seconds of sleep per fit; each fit
  appends "<pid> <seed>" to $MMBENCH_TEST_FIT_LOG when it starts.

Registered with `--model-file tests/data/faulty_model.py:FaultyModel` (name `faulty`)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from mmbench.models.base import FitReport
from mmbench.models.majority import MajorityClass


class InjectedFault(RuntimeError):
    pass


def _first_time(path: str) -> bool:
    try:
        Path(path).touch(exist_ok=False)
    except FileExistsError:
        return False
    return True


class FaultyModel(MajorityClass):
    registry_name = "faulty"

    def fit(self, train: Any, val: Any, *, num_classes: int, seed: int) -> FitReport:
        fault, _, marker = os.environ.get("MMBENCH_TEST_FAULT", "").partition(":")
        if os.environ.get("MMBENCH_TEST_FIT_LOG"):
            with open(os.environ["MMBENCH_TEST_FIT_LOG"], "a") as handle:  # one short append: atomic
                handle.write(f"{os.getpid()} {seed}\n")
        time.sleep(float(os.environ.get("MMBENCH_TEST_FIT_SLEEP", "0")))
        if fault == "raise" or (fault == "raise-once" and _first_time(marker)):
            raise InjectedFault(f"injected fault in the fit of seed {seed}")
        if fault == "kill-once" and _first_time(marker):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().fit(train, val, num_classes=num_classes, seed=seed)
