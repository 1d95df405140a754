"""`shapes` rendering options (background, palette, size): the defaults give today's bytes,
and a shifted build holds the same scenes, rendered as its options say."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmbench import data
from mmbench.adapters.base import AdapterError
from mmbench.adapters.shapes import PALETTES, ShapesAdapter

# ShapesAdapter(scale=0.03).build fingerprint, computed before the rendering options existed.
SCALE_003_FINGERPRINT = "319367c0f626d1adb45832a76a39c2578a5690b1d7030801b68b2d8b68bf4666"
SCALE = 0.03


def _records(**options: Any) -> list[dict[str, Any]]:
    return list(ShapesAdapter(scale=SCALE, **options).examples(Path("."), "test"))


def _pixels(record: dict[str, Any]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(record["images"][0].data)).convert("RGB"), dtype=np.int64)


def _grey(pixels: np.ndarray) -> np.ndarray:
    """The background mask: no palette colour is a grey, and drawing is not antialiased."""
    return (pixels[..., 0] == pixels[..., 1]) & (pixels[..., 1] == pixels[..., 2])


def test_defaults_give_the_fingerprint_they_always_did(isolated_home: Path) -> None:
    plain = data.build(ShapesAdapter(scale=SCALE), name="plain", home=isolated_home)
    explicit = data.build(ShapesAdapter(scale=SCALE, background="dark", palette="default", size="default"),
                          name="explicit", home=isolated_home)
    assert plain.fingerprint == explicit.fingerprint == SCALE_003_FINGERPRINT
    shifted = data.build(ShapesAdapter(scale=SCALE, background="light"), name="shifted", home=isolated_home)
    assert shifted.fingerprint != plain.fingerprint
    assert data.info("shifted", isolated_home).options["background"] == "light"


@pytest.mark.parametrize("options", [{"background": "light"}, {"palette": "muted"}, {"palette": "dark"},
                                     {"size": "small"}, {"size": "large"},
                                     {"background": "light", "palette": "muted", "size": "small"}])
def test_a_shift_keeps_ids_questions_labels_and_layouts(options: dict[str, str]) -> None:
    plain, shifted = _records(), _records(**options)
    assert len(plain) == len(shifted) == 30
    for a, b in zip(plain, shifted, strict=True):
        assert (a["id"], a["question"], a["label"], a["meta"]) == (b["id"], b["question"], b["label"], b["meta"])
        assert a["images"][0].data != b["images"][0].data
    shift = ",".join(f"{k}={options[k]}" for k in ("background", "palette", "size") if k in options)
    assert {r["source"]["file"] for r in shifted} == {f"generated:seed=0,{shift}"}
    assert {r["source"]["file"] for r in plain} == {"generated:seed=0"}


def test_light_background_mirrors_the_grey_shade() -> None:
    for a, b in zip(_records(), _records(background="light"), strict=True):
        pa, pb = _pixels(a), _pixels(b)
        assert (_grey(pa) == _grey(pb)).all()  # the same objects in the same places
        dark, light = pa[_grey(pa)], pb[_grey(pb)]
        assert dark.max() <= 40 and light.min() >= 215 and (light == 255 - dark).all()
        assert (pa[~_grey(pa)] == pb[~_grey(pb)]).all()  # objects keep their colours


@pytest.mark.parametrize("palette", ["muted", "dark"])
def test_palette_renders_the_same_colour_names_in_its_own_shades(palette: str) -> None:
    for a, b in zip(_records(), _records(palette=palette), strict=True):
        pa, pb = _pixels(a), _pixels(b)
        assert (_grey(pa) == _grey(pb)).all() and (pa[_grey(pa)] == pb[_grey(pb)]).all()
        names = [color for color, _shape in json.loads(b["meta"])["objects"]]
        for name in names:  # each object's pixels move from its default shade to the palette's
            was = (pa == PALETTES["default"][name]).all(axis=-1)
            assert was.any() and (pb[was] == PALETTES[palette][name]).all()
        colours = {tuple(int(c) for c in p) for p in pb[~_grey(pb)]}
        assert colours <= {PALETTES[palette][n] for n in names}


def test_size_changes_the_object_area_only() -> None:
    area = {size: np.mean([(~_grey(_pixels(r))).sum() for r in _records(size=size)])
            for size in ("small", "default", "large")}
    assert area["small"] < 0.8 * area["default"] and area["large"] > 1.2 * area["default"]


def test_an_unknown_option_value_names_the_choices() -> None:
    with pytest.raises(AdapterError, match="palette 'pastel' is not one of default, muted, dark"):
        ShapesAdapter(palette="pastel")
    with pytest.raises(AdapterError, match="background 'white' is not one of dark, light"):
        ShapesAdapter(background="white")
