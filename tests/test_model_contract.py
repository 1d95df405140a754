"""The contract every registered trainable classifier keeps, checked on a tiny real shapes corpus.

Models are chosen by capability (they can `fit` and `predict_proba`), so dual encoders
that only embed stay out, and a new classifier family is covered the day it registers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmbench.loader import Batch
from mmbench.models import MODELS, create
from mmbench.models.base import config_hash
from mmbench.models.torch_classifier import TorchClassifier

NUM_CLASSES = 2  # shapes: no / yes


def _is_classifier(name: str) -> bool:
    cls = MODELS.get(name)
    return callable(getattr(cls, "fit", None)) and callable(getattr(cls, "predict_proba", None))


CLASSIFIERS = [n for n in MODELS.names() if _is_classifier(n)]


def _config(name: str) -> dict[str, Any]:
    # Torch models get the smallest budget the shared trainer allows; others take no config.
    if issubclass(MODELS.get(name), TorchClassifier):
        return {"train": {"epochs": 1, "min_epochs": 1, "batch_size": 32}}
    return {}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _fit(name: str, tiny: Any, seed: int = 0) -> Any:
    model = create(name, **_config(name))
    model.fit(tiny["train"], tiny["val"], num_classes=NUM_CLASSES, seed=seed)
    return model


def test_the_zoo_is_covered() -> None:
    expected = {"majority", "image-only", "text-only", "concat-fusion", "late-fusion", "film-fusion",
                "bilinear-fusion", "cross-attention-fusion", "gated-fusion"}
    assert expected <= set(CLASSIFIERS)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_probabilities_are_a_distribution(name: str, tiny_shapes: Any, tiny_batch: Batch) -> None:
    model = _fit(name, tiny_shapes)
    probs = model.predict_proba(tiny_batch)
    assert probs.shape == (len(tiny_batch), NUM_CLASSES)
    assert np.isfinite(probs).all()
    assert (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_config_is_explicit_json(name: str) -> None:
    model = create(name, **_config(name))
    config = model.config()
    assert json.loads(json.dumps(config)) == config
    assert config_hash(name, config) == config_hash(name, create(name, **_config(name)).config())
    if issubclass(MODELS.get(name), TorchClassifier):
        assert config["train"]["epochs"] == 1  # the given budget is what gets recorded


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_same_seed_same_probabilities(name: str, tiny_shapes: Any, tiny_batch: Batch) -> None:
    first = _fit(name, tiny_shapes).predict_proba(tiny_batch)
    second = _fit(name, tiny_shapes).predict_proba(tiny_batch)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_parameter_count(name: str, tiny_shapes: Any) -> None:
    model = _fit(name, tiny_shapes)
    count = model.num_parameters()
    assert isinstance(count, int) and count > 0
    if isinstance(model, TorchClassifier):
        assert count == sum(p.numel() for p in model.network.parameters())


# Checkpointing is a capability too: majority keeps only class counts and has no save/load.
SAVABLE = [name for name in CLASSIFIERS if callable(getattr(MODELS.get(name), "save", None))]


def test_every_trainable_network_is_savable() -> None:
    assert set(CLASSIFIERS) == set(SAVABLE)  # every classifier of the zoo becomes an artifact


@pytest.mark.parametrize("name", SAVABLE)
def test_save_load_round_trip(name: str, tiny_shapes: Any, tiny_batch: Batch, tmp_path: Path) -> None:
    model = _fit(name, tiny_shapes)
    model.save(tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "model.safetensors").is_file()
    restored = create(name, **_config(name))
    restored.load(tmp_path / "ckpt")
    np.testing.assert_array_equal(restored.predict_proba(tiny_batch), model.predict_proba(tiny_batch))
    assert restored.num_parameters() == model.num_parameters()
