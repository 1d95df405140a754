"""`shapes`: a seeded synthetic corpus whose labels need image and text together.

Each record is a small picture of two coloured shapes and a yes/no question about
it ("is there something red?", "is there a circle?", "is there a red circle?"). The
question is drawn first and the answer is a fair coin, then the picture is drawn
among those that give that answer (see `generate`), so neither the question alone
nor the picture alone says anything about the answer. Binding negatives are mostly
hard: they show the colour and the shape asked about on different objects.

Options `background`, `palette` and `size` render the same scenes differently (a light
background, other shades of the same three colour names, smaller or larger objects) for
transfer evaluation: the random draws are the same whatever they say, so a shifted build
holds the same questions, answers and layouts record for record, and the defaults give
the bytes (and the fingerprint) they always did.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mmbench.adapters import register_adapter
from mmbench.adapters.base import Adapter, AdapterError, CorpusInfo, ImageRef, Item
from mmbench.schema import make_record

COLORS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 80, 230)}
RGB = tuple[int, int, int]
# Other renderings of the same colour names; a model fitted on one is scored on another.
PALETTES: dict[str, dict[str, RGB]] = {
    "default": COLORS,
    "muted": {"red": (174, 84, 84), "green": (84, 154, 94), "blue": (89, 104, 179)},  # halfway to grey
    "dark": {"red": (132, 24, 24), "green": (24, 108, 36), "blue": (30, 48, 138)},  # 60% brightness
}
BACKGROUNDS = ("dark", "light")  # grey 0-40, or the same draw mirrored to 215-255
SIZES = {"default": 0, "small": -1, "large": 1}  # added to the drawn radius (4-6 pixels)
RENDERING = ("background", "palette", "size")  # the options that shift the distribution
SHAPES = ("circle", "square", "triangle")
SPLIT_SIZES = {"train": 2000, "val": 500, "test": 1000}
SPLIT_SEED_OFFSET = {"train": 0, "val": 1, "test": 2}
IMAGE_SIZE = 32

Obj = tuple[str, str]  # (colour, shape)


@dataclass(frozen=True)
class Style:
    """How a scene is rendered. Only the mapping of the random draws to pixels changes, never
    the draws themselves: every style sees the same random stream."""

    palette: dict[str, RGB]
    light: bool = False
    radius_offset: int = 0


DEFAULT_STYLE = Style(COLORS)


def _draw(objects: list[tuple[Obj, tuple[int, int]]], rng: random.Random,
          style: Style = DEFAULT_STYLE) -> bytes:
    from PIL import Image, ImageDraw

    shade = rng.randint(0, 40)
    if style.light:
        shade = 255 - shade
    img = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), (shade, shade, shade))
    draw = ImageDraw.Draw(img)
    for (color, shape), (cx, cy) in objects:
        r = rng.randint(4, 6) + style.radius_offset
        box = (cx - r, cy - r, cx + r, cy + r)
        fill = style.palette[color]
        if shape == "circle":
            draw.ellipse(box, fill=fill)
        elif shape == "square":
            draw.rectangle(box, fill=fill)
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _random_pair(rng: random.Random) -> list[Obj]:
    """Two objects that differ in colour and in shape, left to right."""
    colors = rng.sample(list(COLORS), 2)
    shapes = rng.sample(SHAPES, 2)
    return [(colors[0], shapes[0]), (colors[1], shapes[1])]


def _positions(rng: random.Random) -> list[tuple[int, int]]:
    left = (rng.randint(6, 12), rng.randint(6, 25))
    right = (rng.randint(19, 25), rng.randint(6, 25))
    return [left, right]


def _question(rng: random.Random, kind: str) -> tuple[str, Callable[[list[Obj]], bool]]:
    """A question of `kind` and the test that answers it for a pair of objects."""
    color, shape = rng.choice(list(COLORS)), rng.choice(SHAPES)
    if kind == "color":
        return f"is there something {color}?", lambda objs: any(c == color for c, _ in objs)
    if kind == "shape":
        return f"is there a {shape}?", lambda objs: any(s == shape for _, s in objs)
    if kind == "binding":
        return f"is there a {color} {shape}?", lambda objs: (color, shape) in objs
    anchor = rng.choice([s for s in SHAPES if s != shape])
    return (f"is there a {color} {shape} left of a {anchor}?",
            lambda objs: objs[0] == (color, shape) and objs[1][1] == anchor)


def _shares_attribute(objects: list[Obj], question: str) -> bool:
    """A hard negative: the pictured objects carry the colour and the shape asked about."""
    words = question.rstrip("?").split()
    return any(c in words for c, _ in objects) and any(s in words for _, s in objects)


QUESTION_KINDS = ("color", "shape", "binding", "relation")
HARD_NEGATIVE_SHARE = 0.7


def generate(rng: random.Random, weights: tuple[float, ...]) -> tuple[str, bool, list[Obj], str]:
    """One (question, answer, objects left to right, question kind).

    The question and a fair-coin answer come first; the picture is drawn from all
    pictures that give that answer. Every picture holds two objects of different
    colours and shapes, and by the symmetry of colours and shapes the pictures drawn
    for "yes" and for "no" have the same distribution: neither modality alone tells
    the answer. Binding negatives are usually hard (colour and shape both present).
    """
    kind = rng.choices(QUESTION_KINDS, weights=weights)[0]
    question, holds = _question(rng, kind)
    answer = rng.random() < 0.5
    want_hard = kind == "binding" and not answer and rng.random() < HARD_NEGATIVE_SHARE
    while True:  # rejection sampling; every branch is accepted with probability >= 1/9
        objects = _random_pair(rng)
        if holds(objects) == answer and (not want_hard or _shares_attribute(objects, question)):
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
    background: str = field(default="dark", metadata={"help": "dark or light"})
    palette: str = field(default="default", metadata={"help": "default, muted or dark"})
    size: str = field(default="default", metadata={"help": "default, small or large"})

    def __post_init__(self) -> None:
        for option, value, choices in (("background", self.background, BACKGROUNDS),
                                       ("palette", self.palette, tuple(PALETTES)),
                                       ("size", self.size, tuple(SIZES))):
            if value not in choices:
                # AdapterError: the CLI shows it as one line, like any bad corpus option
                raise AdapterError(f"shapes: {option} {value!r} is not one of {', '.join(choices)}")

    def style(self) -> Style:
        return Style(PALETTES[self.palette], self.background == "light", SIZES[self.size])

    def _shift(self) -> str:
        """The non-default rendering options, for provenance ("" for the default corpus)."""
        return "".join(f",{f.name}={getattr(self, f.name)}" for f in fields(self)
                       if f.name in RENDERING and getattr(self, f.name) != f.default)

    def splits(self, root: Path) -> list[str]:
        return list(SPLIT_SIZES)

    def info(self, root: Path) -> CorpusInfo:
        return CorpusInfo(class_names=["no", "yes"], tasks=("classification",))

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        rng = random.Random(self.seed * 1000 + SPLIT_SEED_OFFSET[split])
        count = max(1, round(SPLIT_SIZES[split] * self.scale))
        weights = tuple(float(w) for w in self.kind_weights.split(","))
        style, origin = self.style(), f"generated:seed={self.seed}{self._shift()}"
        for i in range(count):
            question, answer, objects, kind = generate(rng, weights)
            png = _draw(list(zip(objects, _positions(rng), strict=True)), rng, style)
            rid = f"shapes-{split}-{i:05d}"
            meta: dict[str, Any] = {"objects": [list(o) for o in objects], "kind": kind}
            yield make_record(
                id=rid,
                images=[ImageRef(name=f"{rid}.png", data=png)],
                question=question,
                label=int(answer),
                source={"dataset": "shapes", "file": origin, "locator": f"{split}:{i}"},
                meta=meta,
            )
