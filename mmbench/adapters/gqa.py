"""`gqa`: GQA compositional questions on Visual Genome images, in the official JSON.

Each question file is one JSON object keyed by question id, whose values hold
`imageId`, `question`, `answer`, `fullAnswer`, `types`, the functional program and
more. A split is `<split>_<subset>_questions.json` (subset `balanced` or `all`) or,
for the large `all` training set, a folder of shards
`train_all_questions/train_all_questions_<n>.json`. Images are `images/<imageId>.jpg`.
"""

from __future__ import annotations

import re
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
    Rejection,
    load_json,
    outside_root,
    parse_files,
)
from mmbench.schema import make_record

NAME = "gqa"
SPLITS = ("train", "val", "testdev", "test", "challenge", "submission")
SUBSETS = ("balanced", "all")
# Keys mapped to schema fields; every other key of a question goes to meta.
MAPPED = ("question", "answer")


def _natural(path: Path) -> list[Any]:
    # Shard 10 sorts after shard 9.
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _question_problem(q: Any, needs_answer: bool) -> str | None:
    if not isinstance(q, dict):
        return "question is not an object"
    if not isinstance(q.get("imageId"), str) or not q["imageId"]:
        return "missing or non-string imageId"
    if not isinstance(q.get("question"), str) or not q["question"].strip():
        return "missing question text"
    answer = q.get("answer")
    if needs_answer and not isinstance(answer, str):
        return "missing answer"
    if answer is not None and not isinstance(answer, str):
        return "answer is not a string"
    return None


@register_adapter(NAME)
@dataclass
class GQAAdapter(Adapter):
    """GQA: one record per question, answer in `answers`, program and types in meta."""

    description = "GQA compositional questions over Visual Genome scene images"
    version = "1"

    subset: str = field(default="balanced",
                        metadata={"help": "question set: balanced (the benchmark) or all"})
    questions_dir: str = field(default="",
                               metadata={"help": "folder of the question files, relative to root"})
    files: str = field(default="", metadata={
        "help": "comma-separated split=path (a file or a folder of shards) replacing discovery"})
    images: str = field(default="images/{image_id}.jpg",
                        metadata={"help": "image path template relative to root"})
    unlabeled: str = field(default="test,challenge,submission",
                           metadata={"help": "splits published without answers"})

    def _sources(self, root: Path) -> dict[str, Path]:
        """split -> question file or shard folder."""
        if self.files:
            found = {s: root / rel for s, rel in parse_files(self.files, NAME).items()}
            missing = [str(p) for p in found.values() if not p.exists()]
            if missing:
                raise AdapterError(f"{NAME}: question file(s) missing: {', '.join(missing)}")
            return found
        if self.subset not in SUBSETS:
            raise AdapterError(f"{NAME}: subset must be one of {SUBSETS}, got {self.subset!r}")
        base = root / self.questions_dir
        found = {}
        for split in SPLITS:
            stem = base / f"{split}_{self.subset}_questions"
            for candidate in (stem.with_suffix(".json"), stem):
                if candidate.exists():
                    found[split] = candidate
                    break
        if not found:
            raise AdapterError(f"{NAME}: no <split>_{self.subset}_questions.json (or shard "
                               f"folder) in {base}")
        return found

    def splits(self, root: Path) -> list[str]:
        return list(self._sources(root))

    def info(self, root: Path) -> CorpusInfo:
        return CorpusInfo(class_names=None, tasks=("vqa",))

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        source = self._sources(root)[split]
        problem = outside_root(source, "shard folder") if source.is_dir() else None
        if problem is not None:  # never listed: one rejection stands for its shards
            yield Rejection(source.relative_to(root).as_posix(), "shard folder", problem)
            return
        shards = sorted(source.glob("*.json"), key=_natural) if source.is_dir() else [source]
        if not shards:
            raise AdapterError(f"{NAME}: shard folder {source} holds no .json files")
        needs_answer = split not in {s.strip() for s in self.unlabeled.split(",")}
        for shard in shards:
            data = load_json(shard, NAME)
            if not isinstance(data, dict):
                raise AdapterError(f"{NAME}: {shard} is not a JSON object keyed by question id")
            rel = shard.relative_to(root).as_posix()
            for qid, q in data.items():
                yield self._record(root, split, rel, str(qid), q, needs_answer)

    def _record(self, root: Path, split: str, rel: str, qid: str, q: Any,
                needs_answer: bool) -> Item:
        locator = f"key {qid}"
        problem = _question_problem(q, needs_answer)
        if problem is not None:
            return Rejection(rel, locator, problem)
        try:
            name = self.images.format(image_id=q["imageId"], split=split)
        except (KeyError, IndexError, ValueError) as err:
            raise AdapterError(f"{NAME}: bad images template {self.images!r}: {err!r}") from err
        meta = {"question_id": qid, **{k: v for k, v in q.items() if k not in MAPPED}}
        answer = q.get("answer")
        return make_record(
            id=f"{split}-{qid}",
            images=[ImageRef(name=name, path=root / name)],
            question=q["question"],
            answers=[answer] if isinstance(answer, str) else [],
            source={"dataset": NAME, "file": rel, "locator": locator},
            meta=meta,
        )
