"""`shapes`: a seeded synthetic corpus whose labels need image and text together.

Each record is a small picture of two coloured shapes and a yes/no question about
it. The question is drawn first and the answer is a fair coin, then the picture is
drawn to make that answer true; so the question alone says nothing about the
answer, and neither does the picture alone (every picture answers some questions
yes and others no). Negatives are hard: they share the colour or the shape asked
about, so a model must bind colour to shape.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmbench.adapters import register_adapter
from mmbench.adapters.base import Adapter, CorpusInfo, ImageRef, Item
from mmbench.schema import make_record

COLORS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 80, 230)}
SHAPES = ("circle", "square", "triangle")
SPLIT_SIZES = {"train": 3000, "val": 600, "test": 1000}
SPLIT_SEED_OFFSET = {"train": 0, "val": 1, "test": 2}
IMAGE_SIZE = 32

Obj = tuple[str, str]  # (colour, shape)


def _draw(objects: list[tuple[Obj, tuple[int, int]]], rng: random.Random) -> bytes:
    from PIL import Image, ImageDraw

    shade = rng.randint(0, 40)
    img = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (shade, shade, shade))
    draw = ImageDraw.Draw(img)
    for (color, shape), (cx, cy) in objects:
        r = rng.randint(4, 6)
        box = (cx - r, cy - r, cx + r, cy + r)
        fill = COLORS[color]
        if shape == "circle":
            draw.ellipse(box, fill=fill)
        elif shape == "square":
            draw.rectangle(box, fill=fill)
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _other(rng: random.Random, exclude: Obj) -> Obj:
    while True:
        obj = (rng.choice(list(COLORS)), rng.choice(SHAPES))
        if obj != exclude:
            return obj


def _negative_pair(rng: random.Random, target: Obj) -> list[Obj]:
    """Two objects, neither equal to target; usually one shares its colour, one its shape."""
    color, shape = target
    same_color = (color, rng.choice([s for s in SHAPES if s != shape]))
    same_shape = (rng.choice([c for c in COLORS if c != color]), shape)
    pair = [same_color, same_shape] if rng.random() < 0.7 else [_other(rng, target), _other(rng, target)]
    rng.shuffle(pair)
    return pair


def _positions(rng: random.Random) -> list[tuple[int, int]]:
    left = (rng.randint(6, 12), rng.randint(6, 25))
    right = (rng.randint(19, 25), rng.randint(6, 25))
    return [left, right]


def _random_obj(rng: random.Random, color_not: str | None = None, shape_not: str | None = None) -> Obj:
    colors = [c for c in COLORS if c != color_not]
    shapes = [s for s in SHAPES if s != shape_not]
    return rng.choice(colors), rng.choice(shapes)


def _attribute_question(rng: random.Random, answer: bool, kind: str) -> tuple[str, list[Obj]]:
    """'is there something red?' or 'is there a circle?': one attribute, no binding."""
    target = (rng.choice(list(COLORS)), rng.choice(SHAPES))
    if kind == "color":
        question = f"is there something {target[0]}?"
        absent = [_random_obj(rng, color_not=target[0]) for _ in range(2)]
    else:
        question = f"is there a {target[1]}?"
        absent = [_random_obj(rng, shape_not=target[1]) for _ in range(2)]
    if not answer:
        return question, absent
    present = (target[0], rng.choice(SHAPES)) if kind == "color" else (rng.choice(list(COLORS)), target[1])
    objects = [present, absent[0]]
    rng.shuffle(objects)
    return question, objects


def _binding_question(rng: random.Random, answer: bool) -> tuple[str, list[Obj]]:
    """'is there a red circle?': negatives usually share the colour or the shape asked about."""
    target = (rng.choice(list(COLORS)), rng.choice(SHAPES))
    question = f"is there a {target[0]} {target[1]}?"
    objects = [target, _other(rng, target)] if answer else _negative_pair(rng, target)
    rng.shuffle(objects)
    return question, objects


def _relation_question(rng: random.Random, answer: bool) -> tuple[str, list[Obj]]:
    """'is there a red circle left of a square?': false when swapped or the target is absent."""
    target = (rng.choice(list(COLORS)), rng.choice(SHAPES))
    anchor = rng.choice(SHAPES)
    question = f"is there a {target[0]} {target[1]} left of a {anchor}?"
    anchor_obj = (rng.choice(list(COLORS)), anchor)
    while anchor_obj == target:
        anchor_obj = (rng.choice(list(COLORS)), anchor)
    if answer:
        return question, [target, anchor_obj]
    if rng.random() < 0.5:
        return question, [anchor_obj, target]
    return question, [_negative_pair(rng, target)[0], anchor_obj]


QUESTION_KINDS = ("color", "shape", "binding", "relation")


def generate(rng: random.Random, weights: tuple[float, ...]) -> tuple[str, bool, list[Obj], str]:
    """One (question, answer, objects left-to-right, question kind)."""
    kind = rng.choices(QUESTION_KINDS, weights=weights)[0]
    answer = rng.random() < 0.5
    if kind in ("color", "shape"):
        question, objects = _attribute_question(rng, answer, kind)
    elif kind == "binding":
        question, objects = _binding_question(rng, answer)
    else:
        question, objects = _relation_question(rng, answer)
    return question, answer, objects, kind


@register_adapter("shapes")
@dataclass
class ShapesAdapter(Adapter):
    """Seeded synthetic yes/no questions about two coloured shapes."""

    description = "synthetic coloured shapes with yes/no questions (needs both modalities)"
    version = "1"
    needs_root = False

    seed: int = 0
    scale: float = 1.0
    kind_weights: str = "2,2,1,0"  # color,shape,binding,relation

    def splits(self, root: Path) -> list[str]:
        return list(SPLIT_SIZES)

    def info(self, root: Path) -> CorpusInfo:
        return CorpusInfo(class_names=["no", "yes"], tasks=("classification",))

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        rng = random.Random(self.seed * 1000 + SPLIT_SEED_OFFSET[split])
        count = max(1, round(SPLIT_SIZES[split] * self.scale))
        weights = tuple(float(w) for w in self.kind_weights.split(","))
        for i in range(count):
            question, answer, objects, kind = generate(rng, weights)
            png = _draw(list(zip(objects, _positions(rng), strict=True)), rng)
            rid = f"shapes-{split}-{i:05d}"
            meta: dict[str, Any] = {"objects": [list(o) for o in objects], "kind": kind}
            yield make_record(
                id=rid,
                images=[ImageRef(name=f"{rid}.png", data=png)],
                question=question,
                label=int(answer),
                source={"dataset": "shapes", "file": f"generated:seed={self.seed}", "locator": f"{split}:{i}"},
                meta=meta,
            )
