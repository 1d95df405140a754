"""Fit one model on `shapes` under a given training protocol and score it per question kind.

The measurements behind the protocol study of the issue on a stable protocol (which seeds
leave the colour-only plateau, under which budget, schedule, initialisation or pooling).
One JSON line per run: overall accuracy, accuracy per question kind (colour, shape,
binding), epochs run, best epoch, fit seconds and the validation loss of every epoch.

    python benchmarks/protocol/fit_shapes.py concat-fusion 1 --train '{"min_epochs": 12}'
    python benchmarks/protocol/fit_shapes.py film-fusion 0 --train '{"epochs": 40, "min_epochs": 40}'
    python benchmarks/protocol/fit_shapes.py gated-fusion 2 --init zero-head --pool avg

`--init kaiming` re-initialises every convolution (Kaiming normal, fan-out) and `zero-head`
zeroes the last linear layer; `--pool avg|lse` replaces the image encoder's global max pool
(variants measured, not part of any model). The corpus is built in `--home` (default: a
folder under the system's temporary directory) on first use.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _patch_pool(kind: str) -> None:
    import torch

    from mmbench.models import encoders

    def pooled(fmap: torch.Tensor) -> torch.Tensor:
        if kind == "avg":
            return fmap.mean(dim=(2, 3))
        return torch.logsumexp(fmap.flatten(2) * 4.0, dim=2) / 4.0  # a soft maximum

    def encode(self: Any, images: torch.Tensor, modulate: Any = None) -> encoders.Encoded:
        fmap = self.feature_map(images, modulate)
        tokens = fmap.flatten(2).transpose(1, 2)
        return encoders.Encoded(pooled(fmap), tokens, torch.ones(tokens.shape[:2], dtype=torch.bool))

    encoders.SmallCNN.encode = encode  # type: ignore[method-assign]
    encoders.SmallCNN.forward = lambda self, images: pooled(self.feature_map(images))  # type: ignore[method-assign]


def _patch_init(model: Any, kind: str) -> None:
    from torch import nn

    build = model.build

    def built(*args: Any, **kwargs: Any) -> Any:
        network = build(*args, **kwargs)
        if kind == "kaiming":
            for module in network.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                    if module.bias is not None:
                        nn.init.zeros_(module.bias)
        if kind == "zero-head":
            last = [m for m in network.modules() if isinstance(m, nn.Linear)][-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        return network

    model.build = built


def main() -> None:
    import torch

    from mmbench import data
    from mmbench.adapters.shapes import ShapesAdapter
    from mmbench.loader import BatchLoader
    from mmbench.models import create

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("seed", type=int)
    parser.add_argument("--train", default="{}", help="TrainConfig fields as JSON")
    parser.add_argument("--config", default="{}", help="other model config keys as JSON")
    parser.add_argument("--init", choices=("default", "kaiming", "zero-head"), default="default")
    parser.add_argument("--pool", choices=("max", "avg", "lse"), default="max")
    parser.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "mmbench-protocol-home")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if not data.exists("shapes", args.home):
        data.build(ShapesAdapter(), home=args.home)
    dataset = data.load("shapes", args.home)
    if args.pool != "max":
        _patch_pool(args.pool)
    train = json.loads(args.train)
    model = create(args.model, train=train, **json.loads(args.config))
    if args.init != "default":
        _patch_init(model, args.init)
    started = time.perf_counter()
    report = model.fit(dataset["train"], dataset["val"], num_classes=2, seed=args.seed)
    fit_s = time.perf_counter() - started
    test = dataset["test"]
    probs = np.concatenate([model.predict_proba(b) for b in BatchLoader(test, batch_size=256,
                                                                         image_size=model.image_size)])
    right = probs.argmax(axis=1) == np.asarray(test["label"])
    kinds = np.asarray([json.loads(m)["kind"] for m in test["meta"]])
    out: dict[str, Any] = {"model": args.model, "seed": args.seed, "train": train, "init": args.init,
                           "pool": args.pool, "accuracy": round(float(right.mean()), 3)}
    out |= {kind: round(float(right[kinds == kind].mean()), 3) for kind in sorted(set(kinds))}
    out |= {"epochs": report.epochs, "best_epoch": report.best_epoch, "fit_s": round(fit_s, 1),
            "val_loss": [round(h["val_loss"], 3) for h in report.history]}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
