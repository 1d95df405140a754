"""The one trainer for every trainable model: fixed budget, AdamW on a cosine schedule, best val epoch kept."""

from __future__ import annotations

import copy
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mmbench.devices import batch_to
from mmbench.loader import Batch, BatchLoader
from mmbench.models.base import FitReport
from mmbench.precision import grad_scaler, outside_autocast

SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    # One budget for every trainable model, so families are compared on equal terms. Chosen by
    # measurement on `shapes` (benchmarks/protocol/seed_spread.py; the issue on a stable
    # protocol): with standardised encoder features (`models.encoders.Standardised`) these 16
    # epochs of a cosine schedule at 1e-3 took every fusion family off the colour-only plateau
    # on every seed (committed leaderboard, portable: mean accuracy 0.925-0.988, seed SD
    # 0.002-0.026), where 12 constant-rate epochs at 2e-3 with early stopping left FiLM and
    # cross-attention on it for every seed and gated fusion on two of three. Measured too, not
    # taken (cosine, default numerics, 3 seeds): 12 epochs at 1e-3 (seed SD up to 0.031), 1.5e-3 (up to
    # 0.046), 2e-3 (up to 0.040).
    epochs: int = 16
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-2
    patience: int = 3
    # Early stopping may not start before this many epochs. At the default, never: on
    # `shapes` some seeds' validation loss stalls for three epochs before it falls again,
    # and the best epoch is kept in any case.
    min_epochs: int = 16
    grad_clip: float = 1.0
    max_steps: int | None = None
    num_workers: int = 0
    # "constant", or "cosine": a linear warm-up over the first `warmup` share of the
    # budget's steps, then a cosine decay to zero at the last one.
    schedule: str = "cosine"
    warmup: float = 0.1

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"train schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"train warmup is a share of the steps in [0, 1), got {self.warmup!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    # cuBLAS is deterministic only with a fixed workspace, read when CUDA first makes a handle
    # (a fit on a GPU, in a fresh worker); CPU runs ignore it.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    # Deterministic mode also fills every new tensor with NaN to expose reads of uninitialised
    # memory; correct kernels never read it, so results are the same without. The fill was
    # 41% of a `shapes` fit's self CPU time under the torch profiler (concat fusion, one
    # thread); without the profiler the fit took about a tenth less time.
    torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]


LossFn = Callable[[Any, Batch], Any]


def _val_loss(network: Any, loss_fn: LossFn, loader: BatchLoader, device: str) -> float:
    import torch

    network.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            total += float(loss_fn(network, batch_to(batch, device))) * len(batch)
            count += len(batch)
    return total / max(count, 1)


def _scheduler(optimizer: Any, config: TrainConfig, steps_per_epoch: int) -> Any:
    """The learning-rate schedule over the whole budget (None: a constant rate)."""
    import math

    import torch

    if config.schedule == "constant":
        return None
    total = max(1, config.epochs * steps_per_epoch if config.max_steps is None
                else min(config.max_steps, config.epochs * steps_per_epoch))
    warm = int(config.warmup * total)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train(network: Any, loss_fn: LossFn, train_loader: BatchLoader, val_loader: BatchLoader | None,
          config: TrainConfig, *, progress: bool = False, device: str = "cpu") -> FitReport:
    """Train `network` in place on `device` (a resolved torch device string, see
    `mmbench.devices.resolve_device`); on return it holds the weights of the best val epoch
    and stays on `device`. Each batch's images and labels are moved there; `loss_fn` moves
    the token tensors it makes from the texts (see TorchClassifier.logits)."""
    import torch
    from tqdm.auto import tqdm

    started = time.perf_counter()
    # Before the optimizer is made, so its state lives beside the parameters. On CPU this and
    # the batch moves are no-ops that keep the same tensors: CPU results stay bit-identical.
    network.to(device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scaler = grad_scaler(device)  # fp16 on CUDA only (mmbench.precision)
    scheduler = _scheduler(optimizer, config, len(train_loader))
    report = FitReport()
    best_state: dict[str, Any] | None = None
    best_loss = float("inf")
    stale = 0
    bar = tqdm(total=config.epochs, desc="train", unit="epoch", disable=not progress, leave=False)
    for epoch in range(1, config.epochs + 1):
        network.train()
        running, seen = 0.0, 0
        for batch in train_loader:
            batch = batch_to(batch, device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(network, batch)  # under autocast when the unit asks for bf16/fp16
            with outside_autocast(device):
                (loss if scaler is None else scaler.scale(loss)).backward()
            if scaler is not None:
                scaler.unscale_(optimizer)  # clip the true gradients
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(network.parameters(), config.grad_clip)
            if scaler is None:
                optimizer.step()
            else:
                scaler.step(optimizer)  # skipped when the scaled gradients overflowed
                scaler.update()
            if scheduler is not None:
                scheduler.step()
            running += float(loss.detach()) * len(batch)
            seen += len(batch)
            report.steps += 1
            if config.max_steps is not None and report.steps >= config.max_steps:
                break
        report.epochs = epoch
        val_loss = _val_loss(network, loss_fn, val_loader, device) if val_loader is not None else running / max(seen, 1)
        report.history.append({"epoch": epoch, "train_loss": running / max(seen, 1), "val_loss": val_loss})
        bar.update(1)
        bar.set_postfix(val_loss=f"{val_loss:.3f}")
        if val_loss < best_loss - 1e-4:
            best_loss, stale, report.best_epoch = val_loss, 0, epoch
            best_state = copy.deepcopy(network.state_dict())
        else:
            stale += 1
        budget_spent = config.max_steps is not None and report.steps >= config.max_steps
        if (stale >= config.patience and epoch >= config.min_epochs) or budget_spent:
            break
    bar.close()
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    report.best_val_loss = best_loss
    report.seconds = time.perf_counter() - started
    return report
