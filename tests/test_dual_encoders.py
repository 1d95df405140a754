"""Dual encoders: tiny-clip (trained here) and hf-clip (a local transformers CLIP folder)."""

from __future__ import annotations

import io
import json
import math
import string
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mmbench.loader import BatchLoader
from mmbench.models import MODELS, create
from mmbench.runner.fitting import fit_and_evaluate
from mmbench.tasks import TASKS
from tests import colour_corpus


def test_info_nce_values() -> None:
    from mmbench.models.tiny_clip import info_nce

    assert float(info_nce(torch.zeros(5, 5))) == pytest.approx(math.log(5))  # no signal: chance
    assert float(info_nce(30 * torch.eye(4))) < 1e-10  # perfectly aligned pairs
    logits = torch.randn(6, 6, generator=torch.Generator().manual_seed(0))
    assert float(info_nce(logits)) == pytest.approx(float(info_nce(logits.T)))  # symmetric


def test_logit_scale_is_clamped_at_100() -> None:
    from mmbench.models.text import Vocabulary
    from mmbench.models.tiny_clip import _CLIPNet

    net = _CLIPNet(10, create("tiny-clip", **colour_corpus.TINY_CLIP).arch)
    assert float(net.log_scale.detach().exp()) == pytest.approx(1 / 0.07)
    with torch.no_grad():
        net.log_scale.fill_(10.0)
    images = torch.rand(3, 3, 16, 16)
    tokens, lengths = Vocabulary(["a", "b"]).encode(["a", "b a", "b"])
    logits = net(images, tokens, lengths)
    cosines = net.encode_images(images) @ net.encode_texts(tokens, lengths).T
    torch.testing.assert_close(logits, 100 * cosines)
    logits.sum().backward()
    assert net.log_scale.grad is not None and float(net.log_scale.grad) == 0.0  # no push past the bound


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Any]:
    """tiny-clip fitted on the colour corpus (module-scoped: the slow part, done once)."""
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("MMBENCH_HOME", str(home))
    _, ds = colour_corpus.build()
    model = create("tiny-clip", **colour_corpus.TINY_CLIP)
    report = model.fit_contrastive(ds["train"], ds["val"], seed=3)
    mp.undo()
    return model, ds, report


def test_tiny_clip_trains_and_embeds(trained: tuple[Any, Any, Any]) -> None:
    model, ds, report = trained
    assert report.epochs == 6 and report.history[-1]["train_loss"] < report.history[0]["train_loss"]
    batch = next(iter(BatchLoader(ds["test"], batch_size=8, image_size=16)))
    images = model.embed_images(batch)
    texts = model.embed_texts(["a red square", "blue", "unseen words"])
    assert images.shape == (8, 32) and texts.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(model.embed_images(batch), images)  # eval mode: deterministic
    # Learned: every test image is closer to its own colour word than to any other.
    words = model.embed_texts(list(colour_corpus.COLOURS))
    batch = next(iter(BatchLoader(ds["test"], batch_size=40, image_size=16)))
    assert ((model.embed_images(batch) @ words.T).argmax(axis=1) == batch.labels.numpy()).mean() >= 0.9
    assert 1.0 <= model.logit_scale() <= 100.0


def test_tiny_clip_same_seed_same_weights(trained: tuple[Any, Any, Any]) -> None:
    model, ds, _ = trained
    again = create("tiny-clip", **colour_corpus.TINY_CLIP)
    again.fit_contrastive(ds["train"], ds["val"], seed=3)
    for name, value in model.network.state_dict().items():
        torch.testing.assert_close(again.network.state_dict()[name], value, rtol=0, atol=0)


def test_tiny_clip_save_load_roundtrip(trained: tuple[Any, Any, Any], tmp_path: Path) -> None:
    model, ds, _ = trained
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.json", "model.safetensors"]
    fresh = create("tiny-clip")  # default config: the saved architecture must win
    fresh.load(tmp_path / "m")
    assert fresh.config() == model.config()
    batch = next(iter(BatchLoader(ds["test"], batch_size=4, image_size=16)))
    np.testing.assert_array_equal(fresh.embed_images(batch), model.embed_images(batch))
    np.testing.assert_array_equal(fresh.embed_texts(["green"]), model.embed_texts(["green"]))


def test_caption_loader_redraws_from_own_captions() -> None:
    from mmbench.models.tiny_clip import CaptionLoader, caption_table

    _, ds = colour_corpus.build()
    captions = caption_table(ds["train"])
    assert captions["train-0"] == ["a red square", "red", "a picture that is mostly red"]
    loader = CaptionLoader(ds["train"], captions, batch_size=96, image_size=8, shuffle=True, seed=1)
    epochs = [dict(zip(b.ids, b.texts, strict=True)) for _ in range(2) for b in loader]
    assert all(t in captions[i] for drawn in epochs for i, t in drawn.items())
    assert epochs[0] != epochs[1]  # a new draw each epoch
    assert len({t for drawn in epochs for t in drawn.values()}) == 12  # 4 colours x 3 wordings


def test_tiny_clip_errors() -> None:
    model = create("tiny-clip")
    with pytest.raises(RuntimeError, match="not trained"):
        model.embed_texts(["x"])
    bad = create("tiny-clip", text_encoder="lstm")
    _, ds = colour_corpus.build()
    with pytest.raises(ValueError, match="text_encoder"):
        bad.fit_contrastive(ds["train"], None, seed=0)


# ---------------------------------------------------------------- hf-clip

@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random CLIP with a CLIP BPE tokenizer and processor config, saved offline."""
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny-clip-hf")
    chars = string.ascii_lowercase + string.digits + ".,!?"
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({f"{c}</w>": len(chars) + i for i, c in enumerate(chars)})
    merges = ["r e", "re d</w>", "b l", "bl u"]
    for merge in merges:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tokenizer = transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    ids = {"bos_token_id": vocab["<|startoftext|>"], "eos_token_id": vocab["<|endoftext|>"],
           "pad_token_id": vocab["<|endoftext|>"]}
    config = transformers.CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 37,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 16, **ids},
        vision_config={"image_size": 30, "patch_size": 6, "hidden_size": 32, "intermediate_size": 37,
                       "num_hidden_layers": 2, "num_attention_heads": 4},
        projection_dim=16)
    torch.manual_seed(0)
    transformers.CLIPModel(config).eval().save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    processor = transformers.CLIPImageProcessorPil(size={"shortest_edge": 36}, crop_size={"height": 30, "width": 30},
                                                   image_mean=[0.5, 0.4, 0.3], image_std=[0.2, 0.25, 0.3])
    processor.save_pretrained(str(folder))
    return folder


def photo(seed: int, size: tuple[int, int]) -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def test_hf_clip_matches_transformers(clip_dir: Path) -> None:
    import transformers
    from PIL import Image

    from mmbench.loader import Batch

    model = create("hf-clip", path=str(clip_dir))
    assert model.image_size == 30 and model.config() == {"path": str(clip_dir), "device": "cpu"}
    raw = [photo(1, (50, 31)), photo(2, (31, 64)), photo(3, (30, 30))]  # wide, tall, square
    ours = torch.from_numpy(np.stack([model.decode_image(b) for b in raw]))
    image_emb = model.embed_images(Batch(ids=["a", "b", "c"], images=ours, texts=[], labels=None))
    texts = ["a red square", "blue", "a much longer caption that runs past sixteen tokens for sure"]
    text_emb = model.embed_texts(texts)
    # Reference: transformers' own processor (PIL backend) and forward pass.
    processor = transformers.CLIPImageProcessorPil.from_pretrained(str(clip_dir))
    pil = [Image.open(io.BytesIO(b)).convert("RGB") for b in raw]
    pixel_values = processor(images=pil, return_tensors="pt")["pixel_values"]
    mean = torch.tensor([0.5, 0.4, 0.3])[None, :, None, None]
    std = torch.tensor([0.2, 0.25, 0.3])[None, :, None, None]
    torch.testing.assert_close((ours - mean) / std, pixel_values, rtol=1e-5, atol=1e-5)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(clip_dir))
    tokens = tokenizer(texts, padding=True, truncation=True, max_length=16, return_tensors="pt")
    reference = transformers.CLIPModel.from_pretrained(str(clip_dir)).eval()
    with torch.no_grad():
        out = reference(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"],
                        pixel_values=pixel_values)
    np.testing.assert_allclose(image_emb, out.image_embeds.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(text_emb, out.text_embeds.numpy(), rtol=1e-4, atol=1e-5)
    assert image_emb.shape == (3, 16) and text_emb.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(text_emb, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(model.embed_texts(texts), text_emb)  # deterministic
    assert model.num_parameters() == sum(p.numel() for p in reference.parameters())


def test_hf_clip_cleans_texts_as_clips_own_tokenizer_does(clip_dir: Path) -> None:
    from mmbench.models.hf_clip import clip_text

    assert clip_text("Japanese \u201cvacancy\u201d  button\n") == 'Japanese "vacancy" button'
    assert clip_text("six o\u2019clock") == "six o'clock"
    assert clip_text("fish &amp;amp; chips") == "fish & chips"  # unescaped twice, as CLIP does
    model = create("hf-clip", path=str(clip_dir))
    # "&#114;" is an r: without the cleaning its characters would be tokens of their own
    np.testing.assert_array_equal(model.embed_texts(["a &#114;ed square"]), model.embed_texts(["a red square"]))


def test_hf_clip_in_the_embedding_tasks(clip_dir: Path) -> None:
    info, ds = colour_corpus.build()
    model = create("hf-clip", path=str(clip_dir))
    out = fit_and_evaluate(TASKS.get("retrieval")(), model, ds, info, seed=0)
    assert out.fit == {"ties": "pessimistic"} and out.n == 40  # pretrained: scored as it comes, never trained
    zs = fit_and_evaluate(TASKS.get("zero-shot")(), model, ds, info, seed=0)
    assert zs.n == 40 and 0.0 <= zs.metrics["accuracy"].value <= 1.0


def test_hf_clip_registered_and_cheap_until_used(tmp_path: Path) -> None:
    assert "hf-clip" in MODELS and "tiny-clip" in MODELS
    model = create("hf-clip", path=str(tmp_path / "nowhere"))  # nothing is read yet
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model.embed_texts(["x"])
