"""`snli-ve`: SNLI-VE visual entailment, SNLI hypotheses paired with Flickr30k images.

The release is three JSON-lines files, `snli_ve_{train,dev,test}.jsonl`, with the SNLI
fields (`pairID`, `sentence1` the premise caption, `sentence2` the hypothesis,
`gold_label`, `annotator_labels`, parses) plus `Flickr30K_ID`, the image that replaces
the premise. Images are the Flickr30k files `<Flickr30K_ID>.jpg`, by default under
`flickr30k_images/`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmbench.adapters import register_adapter
from mmbench.adapters.base import (
    Adapter,
    AdapterError,
    CorpusInfo,
    ImageRef,
    Item,
    json_line_items,
    split_files,
)
from mmbench.schema import make_record

NAME = "snli-ve"
CLASS_NAMES = ["entailment", "neutral", "contradiction"]
SPLITS = ("train", "dev", "test")
MAPPED = ("pairID", "sentence1", "sentence2", "gold_label")


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _row_problem(row: dict[str, Any]) -> str | None:
    for key in ("pairID", "sentence1", "sentence2"):
        if not _nonempty_str(row.get(key)):
            return f"missing {key}"
    image = row.get("Flickr30K_ID")
    if not (_nonempty_str(image) or (isinstance(image, int) and not isinstance(image, bool))):
        return "missing Flickr30K_ID"
    label = row.get("gold_label")
    if label == "-":
        # SNLI marks pairs whose annotators reached no majority with "-".
        return "no gold label ('-': annotators disagreed)"
    if label not in CLASS_NAMES:
        return f"unknown gold_label {label!r} (expected one of {CLASS_NAMES})"
    return None


@register_adapter(NAME)
@dataclass
class SNLIVEAdapter(Adapter):
    """SNLI-VE: one record per (image, hypothesis) pair, premise caption kept in `text`."""

    description = "SNLI-VE: does a Flickr30k image entail, contradict or leave open a sentence"
    version = "1"

    data_dir: str = field(default="",
                          metadata={"help": "folder of snli_ve_*.jsonl, relative to root"})
    files: str = field(default="", metadata={
        "help": "comma-separated split=path (JSON-lines files) replacing discovery"})
    image_dir: str = field(default="flickr30k_images",
                           metadata={"help": "folder of <Flickr30K_ID>.jpg, relative to root"})

    def _sources(self, root: Path) -> dict[str, Path]:
        if self.files:
            return split_files(root, self.files, NAME)
        base = root / self.data_dir
        found = {s: base / f"snli_ve_{s}.jsonl" for s in SPLITS
                 if (base / f"snli_ve_{s}.jsonl").is_file()}
        if not found:
            raise AdapterError(f"{NAME}: no snli_ve_{{train,dev,test}}.jsonl in {base}")
        return found

    def splits(self, root: Path) -> list[str]:
        return list(self._sources(root))

    def info(self, root: Path) -> CorpusInfo:
        return CorpusInfo(class_names=list(CLASS_NAMES), tasks=("visual-entailment",
                                                                "classification"))

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        path = self._sources(root)[split]
        rel = path.relative_to(root).as_posix()
        yield from json_line_items(path, rel, lambda lineno, row: self._record(root, rel, lineno, row),
                                   check=_row_problem)

    def _record(self, root: Path, rel: str, lineno: int, row: dict[str, Any]) -> Item:
        locator = f"line {lineno}"
        folder = self.image_dir.strip("/")
        name = f"{folder}/{row['Flickr30K_ID']}.jpg" if folder else f"{row['Flickr30K_ID']}.jpg"
        return make_record(
            id=row["pairID"],
            images=[ImageRef(name=name, path=root / name)],
            text=row["sentence1"],
            hypothesis=row["sentence2"],
            label=CLASS_NAMES.index(row["gold_label"]),
            source={"dataset": NAME, "file": rel, "locator": locator},
            meta={k: v for k, v in row.items() if k not in MAPPED},
        )
