"""Prompt templates for zero-shot classification: a class name goes where `{}` (or
`{c}`, as CLIP_benchmark's template files write it) stands.

The default set mixes photo, drawing and emoji wordings so that the template spread
a zero-shot run reports says something about sensitivity to wording.
"""

from __future__ import annotations

TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "default": (
        "a photo of a {}.",
        "an emoji of {}.",
        "an icon of {}.",
        "a drawing of {}.",
        "a picture showing {}.",
        "{}",
    ),
    "photo": (
        "a photo of a {}.",
        "a blurry photo of a {}.",
        "a close-up photo of a {}.",
        "a photo of the large {}.",
        "a photo of the small {}.",
    ),
    "plain": ("{}",),
}


def templates(spec: str | list[str] | tuple[str, ...] | None = None) -> tuple[str, ...]:
    """A template set by name, or an explicit list; every template must hold one `{}`."""
    if spec is None:
        spec = "default"
    if isinstance(spec, str):
        if spec not in TEMPLATE_SETS:
            raise ValueError(f"unknown template set {spec!r}; known: {', '.join(sorted(TEMPLATE_SETS))}")
        chosen = TEMPLATE_SETS[spec]
    else:
        chosen = tuple(spec)
    if not chosen:
        raise ValueError("no prompt templates given")
    for template in chosen:
        if template.count("{}") + template.count("{c}") != 1:
            raise ValueError(f"template {template!r} must hold exactly one '{{}}' or '{{c}}'")
    return chosen


def class_phrase(name: str) -> str:
    """A class name as words: snake_case becomes spaces (hyphens may be part of a word)."""
    return " ".join(name.replace("_", " ").split())


def prompts(class_name: str, chosen: tuple[str, ...]) -> list[str]:
    """The class's prompt under each template (a plain replacement: other braces in a
    template stay as they are)."""
    phrase = class_phrase(class_name)
    return [template.replace("{c}" if "{c}" in template else "{}", phrase, 1) for template in chosen]
