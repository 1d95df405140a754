"""The device option below the runner: resolve_device, use_device on every torch model, the trainer.

Tests run on CPU. To prove that tensors really move, models are put on torch's "meta"
device (shapes without data) under `StrictDevices`, a dispatch mode that fails any op
whose tensor arguments sit on two devices, as CUDA would (torch lets some CPU/meta mixes
through otherwise). The GRU text encoder is left out there: packing needs its lengths'
values, which a meta tensor does not have.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from mmbench import devices
from mmbench.devices import DeviceError, batch_to, device_info, resolve_device
from mmbench.loader import Batch
from mmbench.models import create
from mmbench.models.base import DeviceAware, config_hash
from mmbench.models.text import Vocabulary
from mmbench.train import TrainConfig, train
from tests.test_dual_encoders import clip_dir  # noqa: F401  (a fixture: a tiny random HF CLIP)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY_TRAIN = {"epochs": 1, "min_epochs": 1, "batch_size": 16, "max_steps": 2}
SMALL = {"image_dim": 16, "text_dim": 16, "embed_dim": 8, "cnn_width": 4}
CLASSIFIERS: list[tuple[str, dict[str, Any]]] = [
    ("concat-fusion", SMALL), ("late-fusion", SMALL), ("film-fusion", SMALL), ("bilinear-fusion", SMALL),
    ("cross-attention-fusion", SMALL), ("gated-fusion", SMALL),
    ("concat-fusion", {**SMALL, "image_encoder": "vit", "text_encoder": "transformer"}),
    ("image-only", {"feature_dim": 16, "cnn_width": 4}), ("text-only", {"embed_dim": 8, "hidden": 16}),
]
IDS = [f"{name}-{config.get('image_encoder', '')}{config.get('text_encoder', '')}" for name, config in CLASSIFIERS]
TINY_CLIP = {"text_encoder": "bag", "image_dim": 16, "width": 4, "embed_dim": 8, "proj_dim": 16, "train": TINY_TRAIN}


class StrictDevices(TorchDispatchMode):
    """Every op's tensors on one device (0-dim CPU scalars aside, which CUDA ops accept too)."""

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        flat, _ = tree_flatten((args, kwargs))
        found = {t.device for t in flat if isinstance(t, torch.Tensor)
                 and not (t.device.type == "cpu" and t.dim() == 0)}
        if len(found) > 1:
            raise RuntimeError(f"{func} mixes devices {sorted(map(str, found))}")
        return func(*args, **kwargs)


@pytest.fixture
def strict() -> Iterator[None]:
    with StrictDevices():
        yield


def _on(module: Any) -> set[str]:
    return {t.device.type for t in [*module.parameters(), *module.buffers()]}


def _bag(config: dict[str, Any]) -> dict[str, Any]:
    """The config with the bag text encoder unless it names one (meta cannot pack a GRU)."""
    return config if "text_encoder" in config else {**config, "text_encoder": "bag"}


def _built(name: str, config: dict[str, Any]) -> Any:
    """A classifier with an untrained network, as fit would leave it, without training."""
    model = create(name, train=TINY_TRAIN, **config)
    model.vocab = Vocabulary(["a", "red", "blue", "circle", "square", "is", "there"])
    model.num_classes = 2
    model.network = model.build(2, len(model.vocab))
    return model


# --- resolve_device / device_info ---------------------------------------------------------------

def test_resolve_cpu_and_auto_on_this_machine() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device(" CPU ") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error() -> None:
    for name in ("cuda", "cuda:0"):
        with pytest.raises(DeviceError, match=r"needs CUDA|sees no GPU") as err:
            resolve_device(name)
        assert "--device cpu" in str(err.value)


def test_cuda_build_without_a_visible_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(devices, "_cuda_count", lambda: 0)
    with pytest.raises(DeviceError, match="torch has CUDA 12.4 but sees no GPU"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu"


def test_cuda_indices_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(devices, "_cuda_count", lambda: 2)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cuda") == "cuda" and resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(DeviceError, match=r"only 2 GPU\(s\) visible \(cuda:0 to cuda:1\)"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("junk", ["gpu", "cuda:x", "cuda:", "", "mps", "meta", "cpu:0"])
def test_junk_lists_the_choices(junk: str) -> None:
    with pytest.raises(DeviceError, match="choose one of cpu, cuda, cuda:N, auto"):
        resolve_device(junk)
    assert issubclass(DeviceError, ValueError)


def test_device_info_on_cpu() -> None:
    assert device_info("cpu") == {"device": "cpu", "type": "cpu"}
    json.dumps(device_info("cpu"))  # goes into a record as it is


def test_use_device_helper_skips_models_that_cannot_move() -> None:
    baseline = create("majority")
    assert not isinstance(baseline, DeviceAware) and devices.use_device(baseline, "cpu") is False
    model = create("concat-fusion")
    assert isinstance(model, DeviceAware) and devices.use_device(model, "meta") is True
    assert model.device == "meta"


def test_batch_to_moves_images_and_labels_only(tiny_batch: Batch) -> None:
    moved = batch_to(tiny_batch, "meta")
    assert moved.images.device.type == "meta" and moved.labels.device.type == "meta"
    assert moved.ids == tiny_batch.ids and moved.texts == tiny_batch.texts
    assert tiny_batch.images.device.type == "cpu"  # the loader's batch is left as it was
    same = batch_to(tiny_batch, "cpu")
    assert same.images is tiny_batch.images and same.labels is tiny_batch.labels  # no copy on CPU


# --- use_device("cpu") changes nothing ----------------------------------------------------------

@pytest.mark.parametrize(("name", "config"), CLASSIFIERS, ids=IDS)
def test_cpu_device_gives_identical_predictions(name: str, config: dict[str, Any], tiny_shapes: Any,
                                                 tiny_batch: Batch) -> None:
    plain = create(name, train=TINY_TRAIN, **config)
    report = plain.fit(tiny_shapes["train"], tiny_shapes["val"], num_classes=2, seed=0)
    placed = create(name, train=TINY_TRAIN, **config)
    placed.use_device("cpu")
    again = placed.fit(tiny_shapes["train"], tiny_shapes["val"], num_classes=2, seed=0)
    assert again.history == report.history
    np.testing.assert_array_equal(placed.predict_proba(tiny_batch), plain.predict_proba(tiny_batch))
    assert placed.config() == plain.config()  # the device is not configuration...
    assert config_hash(name, placed.config()) == config_hash(name, plain.config())  # ...nor in the hash


def test_cpu_device_tiny_clip_identical(tiny_shapes: Any, tiny_batch: Batch) -> None:
    plain = create("tiny-clip", **TINY_CLIP)
    plain.fit_contrastive(tiny_shapes["train"], tiny_shapes["val"], seed=0)
    placed = create("tiny-clip", **TINY_CLIP)
    placed.use_device("cpu")
    placed.fit_contrastive(tiny_shapes["train"], tiny_shapes["val"], seed=0)
    np.testing.assert_array_equal(placed.embed_images(tiny_batch), plain.embed_images(tiny_batch))
    np.testing.assert_array_equal(placed.embed_texts(tiny_batch.texts), plain.embed_texts(tiny_batch.texts))
    assert placed.config() == plain.config()


# --- tensors really move (meta device, strict) --------------------------------------------------

def test_strict_mode_catches_a_tensor_left_behind() -> None:
    layer = torch.nn.Conv2d(3, 4, 3).to("meta")
    with StrictDevices(), pytest.raises(RuntimeError, match="mixes devices"):
        layer(torch.zeros(1, 3, 8, 8))  # torch alone lets this one through


@pytest.mark.parametrize(("name", "config"), CLASSIFIERS, ids=IDS)
def test_classifier_inputs_follow_the_device(name: str, config: dict[str, Any], tiny_batch: Batch,
                                             strict: None) -> None:
    model = _built(name, _bag(config))
    model.use_device("meta")  # a network that exists already moves
    assert _on(model.network) == {"meta"}
    logits = model.logits(tiny_batch)  # a CPU batch, as the tasks pass it
    assert logits.device.type == "meta" and tuple(logits.shape) == (len(tiny_batch), 2)
    model.network.train()
    model._loss(model.network, tiny_batch).backward()


def test_a_forgotten_move_fails_the_check(tiny_batch: Batch, monkeypatch: pytest.MonkeyPatch) -> None:
    import mmbench.models.torch_classifier as tc

    model = _built("concat-fusion", _bag(SMALL))
    model.use_device("meta")
    monkeypatch.setattr(tc, "to_device", lambda value, device: value)  # logits no longer moves inputs
    with StrictDevices(), pytest.raises(RuntimeError, match="mixes devices"):
        model.logits(tiny_batch)


def test_trainer_moves_the_network_and_every_batch(tiny_shapes: Any) -> None:
    model = _built("gated-fusion", _bag(SMALL))  # network built on CPU, as fit builds it
    seen: list[tuple[str, str, set[str]]] = []

    def loss_fn(network: Any, batch: Batch) -> Any:
        seen.append((batch.images.device.type, batch.labels.device.type, _on(network)))
        with StrictDevices():
            loss = model._loss(network, batch)
            if torch.is_grad_enabled():
                loss.backward()  # meta gradients: clipping and the AdamW step run on meta too
        # A meta loss has no value to read; the trainer reads floats, so it gets a CPU stand-in.
        return torch.zeros((), requires_grad=True)

    model.use_device("meta")  # the model's own inputs go where the trainer puts the network
    network = model.build(2, len(model.vocab))
    assert _on(network) == {"cpu"}
    cfg = TrainConfig(epochs=2, min_epochs=2, batch_size=16, max_steps=None)
    report = train(network, loss_fn, model._loader(tiny_shapes["train"], shuffle=True),
                   model._loader(tiny_shapes["val"]), cfg, device="meta")
    assert report.steps == 2 * 4 and len(seen) == report.steps + 2 * 1  # 60 train rows, 15 val rows
    assert {s[:2] for s in seen} == {("meta", "meta")} and all(s[2] == {"meta"} for s in seen)
    assert _on(network) == {"meta"}  # it stays there, best weights restored in place


def test_fit_and_load_build_on_the_device(tiny_shapes: Any, tiny_batch: Batch, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import mmbench.models.torch_classifier as tc

    trained = create("concat-fusion", train=TINY_TRAIN, **_bag(SMALL))
    trained.use_device("cpu")
    trained.fit(tiny_shapes["train"], tiny_shapes["val"], num_classes=2, seed=0)
    trained.save(tmp_path)
    # load after use_device: the weights land on the device
    restored = create("concat-fusion", train=TINY_TRAIN, **_bag(SMALL))
    restored.use_device("meta")
    restored.load(tmp_path)
    assert _on(restored.network) == {"meta"}
    with StrictDevices():
        assert restored.logits(tiny_batch).device.type == "meta"
    # fit after use_device: the trainer is told the device
    told: list[str] = []

    def spy(network: Any, *args: Any, device: str = "cpu", **kwargs: Any) -> Any:
        told.append(device)
        return tc.FitReport()

    monkeypatch.setattr(tc, "train", spy)
    later = create("concat-fusion", train=TINY_TRAIN, **_bag(SMALL))
    later.use_device("meta")
    later.fit(tiny_shapes["train"], None, num_classes=2, seed=0)
    assert told == ["meta"]


def test_save_load_round_trip_after_use_device(tiny_shapes: Any, tiny_batch: Batch, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    model = create("film-fusion", train=TINY_TRAIN, **SMALL)
    model.use_device("cpu")
    model.fit(tiny_shapes["train"], tiny_shapes["val"], num_classes=2, seed=0)
    model.save(tmp_path / "film")
    assert {t.device.type for t in load_file(str(tmp_path / "film" / "model.safetensors")).values()} == {"cpu"}
    restored = create("film-fusion", train=TINY_TRAIN, **SMALL)
    restored.use_device("cpu")
    restored.load(tmp_path / "film")
    np.testing.assert_array_equal(restored.predict_proba(tiny_batch), model.predict_proba(tiny_batch))
    restored.use_device("meta")  # and a loaded model moves on when told
    assert _on(restored.network) == {"meta"}


def test_minilm_tower_is_told_the_device(tiny_batch: Batch, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmbench.models import minilm

    told: list[str] = []

    def fake_compute(texts: list[str], max_len: int, device: str = "cpu") -> list[torch.Tensor]:
        told.append(device)  # the frozen tower would run there; its states come back on CPU
        return [torch.rand(3, minilm.HIDDEN) for _ in texts]

    monkeypatch.setattr(minilm, "_cache", type(minilm._cache)())
    monkeypatch.setattr(minilm, "_compute", fake_compute)
    model = _built("gated-fusion", {**SMALL, "text_encoder": "minilm"})
    model.use_device("meta")
    with StrictDevices():
        assert model.logits(tiny_batch).device.type == "meta"  # the CPU states were moved
    assert told == ["meta"]
    model.logits(tiny_batch)
    assert told == ["meta"]  # cached: the tower runs once per text and device
    assert {key[2] for key in minilm._cache} == {"meta"}


def test_tiny_clip_follows_the_device(tiny_shapes: Any, tiny_batch: Batch, tmp_path: Path) -> None:
    model = create("tiny-clip", **TINY_CLIP)
    model.use_device("cpu")
    model.fit_contrastive(tiny_shapes["train"], None, seed=0)
    model.save(tmp_path)
    restored = create("tiny-clip", **TINY_CLIP)
    restored.load(tmp_path)
    np.testing.assert_array_equal(restored.embed_texts(tiny_batch.texts), model.embed_texts(tiny_batch.texts))
    restored.use_device("meta")
    assert _on(restored.network) == {"meta"}
    with StrictDevices():
        restored.network.train()
        loss = restored._loss(restored.network, tiny_batch)  # CPU images and tokens are moved
        assert loss.device.type == "meta"
        loss.backward()
    # The embeddings: inputs reach the towers on the device; the results come back as numpy.
    seen: list[str] = []

    def spy(inputs: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        seen.extend(t.device.type for t in (inputs, *rest))
        return torch.zeros(len(inputs), TINY_CLIP["proj_dim"])

    restored.network.encode_images = spy
    restored.network.encode_texts = spy
    assert restored.embed_images(tiny_batch).shape == (len(tiny_batch), 16)
    assert restored.embed_texts(tiny_batch.texts).shape == (len(tiny_batch), 16)
    assert seen == ["meta"] * 3  # images; tokens and lengths
    later = create("tiny-clip", **TINY_CLIP)
    later.use_device("meta")
    later.load(tmp_path)
    assert _on(later.network) == {"meta"}


# --- hf-clip: the `device` key and use_device ---------------------------------------------------

class _Stop(Exception):
    pass


def test_hf_clip_use_device(clip_dir: Path) -> None:  # noqa: F811  (the imported fixture)
    texts = ["a red square", "blue"]
    images = torch.rand(2, 3, 40, 40)  # not the crop size: resized where the model runs
    batch = Batch(ids=["a", "b"], images=images, texts=texts, labels=None)
    plain = create("hf-clip", path=str(clip_dir))
    placed = create("hf-clip", path=str(clip_dir))
    placed.use_device("cpu")
    np.testing.assert_array_equal(placed.embed_images(batch), plain.embed_images(batch))
    np.testing.assert_array_equal(placed.embed_texts(texts), plain.embed_texts(texts))
    keyed = create("hf-clip", path=str(clip_dir), device="meta")  # the key, when no run device is given
    assert keyed.run_device == "meta"
    keyed.use_device("cpu")  # the run's device wins; the config (and its hash) stay as written
    assert keyed.run_device == "cpu" and keyed.config() == {"path": str(clip_dir), "device": "meta"}
    np.testing.assert_array_equal(keyed.embed_texts(texts), plain.embed_texts(texts))
    # A loaded model moves when told, and its inputs follow it.
    placed.use_device("meta")
    assert _on(placed._model) == {"meta"}
    seen: dict[str, str] = {}

    def stop(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        seen.update({k: v.device.type for k, v in kwargs.items() if isinstance(v, torch.Tensor)})
        raise _Stop  # far enough: a meta result has no values to hand back

    placed._model.vision_model.register_forward_pre_hook(stop, with_kwargs=True)
    placed._model.text_model.register_forward_pre_hook(stop, with_kwargs=True)
    with StrictDevices(), pytest.raises(_Stop):
        placed.embed_images(batch)
    with StrictDevices(), pytest.raises(_Stop):
        placed.embed_texts(texts)
    assert seen == {"pixel_values": "meta", "input_ids": "meta", "attention_mask": "meta"}
