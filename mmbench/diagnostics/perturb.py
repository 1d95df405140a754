"""Seeded perturbations for robustness views, applied to a batch as the loader hands it over
(nothing corrupted is written anywhere).

Each is a pure function of (input, severity 1-3, seed). The seed of one record is drawn
from the view's seed and the record's id, so a record is perturbed the same way whatever
batch it falls in. Images are float arrays [3, H, W] in [0, 1]; texts are strings.

Images: `gaussian-noise` (sigma 0.04, 0.08, 0.16), `blur` (Gaussian, sigma 0.6, 1.0, 1.6
pixels), `jpeg` (re-encoded at quality 30, 15, 5), `occlusion` (a grey square over 10%,
20%, 35% of the area at a seeded place), `contrast` (contrast scaled by 0.6, 0.4, 0.2
around the mean, brightness shifted by a seeded +-0.1, 0.2, 0.3).
Texts: `typos` (a character swapped, dropped, doubled or replaced in 5%, 10%, 20% of the
words), `word-dropout` (10%, 20%, 35% of the words removed, never all), `case-punct`
(case flipped and punctuation added or removed in 10%, 25%, 50% of the words), `synonyms`
(10%, 30%, 60% of the words that `SYNONYMS` lists swapped for one of their synonyms).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

SEVERITIES = (1, 2, 3)
ImageFn = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
TextFn = Callable[[str, int, np.random.Generator], str]


def record_rng(seed: int, record_id: str) -> np.random.Generator:
    """The generator of one record under one view: independent of batching and order."""
    return np.random.default_rng([seed, zlib.crc32(record_id.encode("utf-8"))])


# ---- images ----------------------------------------------------------------------------


def gaussian_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma = (0.04, 0.08, 0.16)[severity - 1]
    return np.clip(image + rng.normal(0.0, sigma, image.shape), 0.0, 1.0).astype(image.dtype)


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(round(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A separable Gaussian blur, edges reflected."""
    kernel = _gaussian_kernel((0.6, 1.0, 1.6)[severity - 1])
    radius = len(kernel) // 2
    out = image.astype(np.float64)
    for axis in (1, 2):
        padded = np.pad(out, [(0, 0)] + [(radius, radius) if a == axis else (0, 0) for a in (1, 2)],
                        mode="reflect")
        out = sum(kernel[k] * np.take(padded, np.arange(k, k + out.shape[axis]), axis=axis)
                  for k in range(len(kernel)))
    return np.clip(out, 0.0, 1.0).astype(image.dtype)


def jpeg(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    quality = (30, 15, 5)[severity - 1]
    pixels = (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8).transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), dtype=np.float32)
    return (decoded.transpose(2, 0, 1) / 255.0).astype(image.dtype)


def occlusion(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    share = (0.10, 0.20, 0.35)[severity - 1]
    _, height, width = image.shape
    side_h, side_w = max(1, round(height * share ** 0.5)), max(1, round(width * share ** 0.5))
    top, left = int(rng.integers(0, height - side_h + 1)), int(rng.integers(0, width - side_w + 1))
    out = image.copy()
    out[:, top:top + side_h, left:left + side_w] = 0.5
    return out


def contrast(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    factor = (0.6, 0.4, 0.2)[severity - 1]
    shift = (0.1, 0.2, 0.3)[severity - 1] * (1.0 if rng.random() < 0.5 else -1.0)
    mean = image.mean()
    return np.clip((image - mean) * factor + mean + shift, 0.0, 1.0).astype(image.dtype)


IMAGE_PERTURBATIONS: dict[str, ImageFn] = {"gaussian-noise": gaussian_noise, "blur": blur, "jpeg": jpeg,
                                           "occlusion": occlusion, "contrast": contrast}

# ---- texts -----------------------------------------------------------------------------

# A small built-in thesaurus of words common in image questions and captions.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "is": ("appears",), "there": ("here",), "something": ("anything", "an object"),
    "circle": ("round shape", "disc"), "square": ("box", "quadrilateral"), "triangle": ("trigon",),
    "red": ("crimson", "scarlet"), "green": ("emerald",), "blue": ("azure", "navy"),
    "left": ("leftward",), "right": ("rightward",), "big": ("large",), "large": ("big",),
    "small": ("little", "tiny"), "picture": ("image", "photo"), "image": ("picture", "photo"),
    "photo": ("picture", "image"), "man": ("guy", "gentleman"), "woman": ("lady",),
    "person": ("individual",), "people": ("persons", "folks"), "dog": ("puppy", "hound"),
    "cat": ("kitten",), "car": ("vehicle", "automobile"), "house": ("home", "building"),
    "face": ("visage",), "happy": ("glad", "joyful"), "sad": ("unhappy",), "hand": ("palm",),
    "color": ("colour", "hue"), "shape": ("form",), "many": ("numerous",), "what": ("which",),
}
PUNCTUATION = ".,!?;:"


def _words(text: str) -> list[str]:
    return text.split()


def typos(text: str, severity: int, rng: np.random.Generator) -> str:
    share = (0.05, 0.10, 0.20)[severity - 1]
    words = _words(text)
    for i, word in enumerate(words):
        if len(word) < 2 or rng.random() >= share:
            continue
        k = int(rng.integers(0, len(word) - 1))
        kind = int(rng.integers(0, 4))
        if kind == 0:  # swap two neighbours
            word = word[:k] + word[k + 1] + word[k] + word[k + 2:]
        elif kind == 1:  # drop one
            word = word[:k] + word[k + 1:]
        elif kind == 2:  # double one
            word = word[:k] + word[k] + word[k:]
        else:  # replace one with a random letter
            word = word[:k] + chr(ord("a") + int(rng.integers(0, 26))) + word[k + 1:]
        words[i] = word
    return " ".join(words)


def word_dropout(text: str, severity: int, rng: np.random.Generator) -> str:
    share = (0.10, 0.20, 0.35)[severity - 1]
    words = _words(text)
    kept = [w for w in words if rng.random() >= share]
    return " ".join(kept or words[:1])


def case_punct(text: str, severity: int, rng: np.random.Generator) -> str:
    share = (0.10, 0.25, 0.50)[severity - 1]
    words = _words(text)
    for i, word in enumerate(words):
        if rng.random() >= share:
            continue
        word = word.swapcase()
        if word and word[-1] in PUNCTUATION:
            word = word[:-1] or word
        else:
            word += PUNCTUATION[int(rng.integers(0, len(PUNCTUATION)))]
        words[i] = word
    return " ".join(words)


def synonyms(text: str, severity: int, rng: np.random.Generator) -> str:
    share = (0.10, 0.30, 0.60)[severity - 1]
    words = _words(text)
    for i, word in enumerate(words):
        core = word.rstrip(PUNCTUATION)
        options = SYNONYMS.get(core.lower())
        if options and rng.random() < share:
            words[i] = options[int(rng.integers(0, len(options)))] + word[len(core):]
    return " ".join(words)


TEXT_PERTURBATIONS: dict[str, TextFn] = {"typos": typos, "word-dropout": word_dropout,
                                         "case-punct": case_punct, "synonyms": synonyms}
PERTURBATIONS = (*IMAGE_PERTURBATIONS, *TEXT_PERTURBATIONS)


def perturb_batch(batch: Any, name: str, severity: int, seed: int) -> Any:
    """`batch` with perturbation `name` applied to every record (in place of its images or
    texts; the ids, labels and the other modality are unchanged)."""
    import torch

    if name in IMAGE_PERTURBATIONS:
        if batch.images is None:
            return batch
        fn = IMAGE_PERTURBATIONS[name]
        images = batch.images.numpy()
        out = np.stack([fn(image, severity, record_rng(seed, rid)) for image, rid in zip(images, batch.ids,
                                                                                       strict=True)])
        batch.images = torch.from_numpy(out.astype(images.dtype, copy=False))
        return batch
    text_fn = TEXT_PERTURBATIONS[name]
    batch.texts = [text_fn(text, severity, record_rng(seed, rid)) for text, rid in zip(batch.texts, batch.ids,
                                                                                       strict=True)]
    return batch
