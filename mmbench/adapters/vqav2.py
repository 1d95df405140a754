"""`vqav2`: VQA v2 open-ended questions on COCO images, in the official JSON files.

A split is one data subtype (`train2014`, `val2014`, `test2015`, `test-dev2015`): a
questions file `v2_OpenEnded_mscoco_<subtype>_questions.json` and, except for the
test subtypes, an annotations file `v2_mscoco_<subtype>_annotations.json` holding the
ten human answers per question. The two are joined by `question_id`; the image is
`<subtype>/COCO_<subtype>_<image_id:012d>.jpg`. File names are options (templates with
`{subtype}`, `{image_subtype}`, `{split}`, `{image_id}`) so trimmed or renamed copies
can be read too.
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
    corpus_file,
    load_json,
    require_file,
)
from mmbench.schema import make_record

NAME = "vqav2"
SPLIT_ORDER = {"train": 0, "val": 1, "test-dev": 2, "test": 3}
QUESTION_KEYS = ("question_id", "image_id", "question")
ANNOTATION_KEYS = ("question_id", "image_id", "answers")


def split_name(subtype: str) -> str:
    """`train2014` -> `train`, `test-dev2015` -> `test-dev` (the year carries no meaning)."""
    return re.sub(r"\d{4}$", "", subtype) or subtype


def image_subtype(subtype: str) -> str:
    # test-dev is a subset of test2015: its images live in test2015/ named COCO_test2015_*.
    return subtype.replace("test-dev", "test")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _annotation_problem(ann: Any) -> str | None:
    """Why an annotation cannot be used, or None."""
    if not isinstance(ann, dict):
        return "annotation is not an object"
    if not _is_int(ann.get("question_id")):
        return "annotation has no integer question_id"
    answers = ann.get("answers")
    if not isinstance(answers, list) or not answers:
        return "annotation has no answers list"
    if not all(isinstance(a, dict) and isinstance(a.get("answer"), str) for a in answers):
        return "an answer is not an object with a string 'answer'"
    return None


def _question_problem(q: Any) -> str | None:
    if not isinstance(q, dict):
        return "question is not an object"
    if not _is_int(q.get("question_id")):
        return "missing or non-integer question_id"
    if not _is_int(q.get("image_id")):
        return "missing or non-integer image_id"
    if not isinstance(q.get("question"), str) or not q["question"].strip():
        return "missing question text"
    return None


def _fill(template: str, **values: Any) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as err:
        raise AdapterError(f"{NAME}: bad file name template {template!r}: {err!r}") from err


def _list_of(data: Any, key: str, path: Path) -> list[Any]:
    rows = data.get(key) if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise AdapterError(f"{NAME}: {path} has no '{key}' list")
    return rows


def _answer_meta(ann: dict[str, Any]) -> dict[str, Any]:
    """Everything an annotation holds besides the answer strings (lossless)."""
    meta = {k: v for k, v in ann.items() if k not in ANNOTATION_KEYS}
    answers = ann["answers"]
    meta["answer_confidence"] = [a.get("answer_confidence") for a in answers]
    meta["answer_ids"] = [a.get("answer_id") for a in answers]
    extra = [{k: v for k, v in a.items() if k not in ("answer", "answer_confidence", "answer_id")}
             for a in answers]
    if any(extra):
        meta["answer_extra"] = extra
    return meta


@register_adapter(NAME)
@dataclass
class VQAv2Adapter(Adapter):
    """VQA v2: one record per question, with its ten raw answers when annotated."""

    description = "VQA v2 open-ended questions on COCO images (10 human answers each)"
    version = "1"

    questions: str = field(
        default="v2_OpenEnded_mscoco_{subtype}_questions.json",
        metadata={"help": "questions file relative to root; {subtype} is found by globbing"})
    annotations: str = field(
        default="v2_mscoco_{subtype}_annotations.json",
        metadata={"help": "annotations file relative to root (absent for test subtypes)"})
    images: str = field(
        default="{image_subtype}/COCO_{image_subtype}_{image_id:012d}.jpg",
        metadata={"help": "image path template relative to root"})
    subtype: str = field(
        default="",
        metadata={"help": "data subtype (e.g. train2014) when `questions` names one fixed "
                          "file; read from that file's data_subtype when empty"})

    def _subtypes(self, root: Path) -> dict[str, str]:
        """split name -> data subtype, for every questions file present."""
        if "{subtype}" not in self.questions:
            path = require_file(root / self.questions, NAME)
            subtype = self.subtype or self._fixed_subtype(load_json(path, NAME), path)
            return {split_name(subtype): subtype}
        head, _, tail = self.questions.partition("{subtype}")
        corpus_file((root / head).parent, "questions folder")  # listed: must lie inside
        found = sorted(p.relative_to(root).as_posix() for p in root.glob(f"{head}*{tail}"))
        subtypes = [name[len(head):len(name) - len(tail)] for name in found]
        if not subtypes:
            raise AdapterError(f"{NAME}: no questions file matching {root / self.questions}")
        by_split = {split_name(s): s for s in subtypes}
        if len(by_split) != len(subtypes):
            raise AdapterError(f"{NAME}: subtypes {subtypes} give clashing split names")
        return dict(sorted(by_split.items(), key=lambda kv: (SPLIT_ORDER.get(kv[0], 9), kv[0])))

    def _fixed_subtype(self, data: Any, path: Path) -> str:
        found = data.get("data_subtype") if isinstance(data, dict) else None
        subtype = self.subtype or (found if isinstance(found, str) else "")
        if not subtype:
            raise AdapterError(f"{NAME}: {path} has no data_subtype; set the subtype option")
        return subtype

    def _questions(self, root: Path, split: str) -> tuple[str, str, Any]:
        """(subtype, questions file relative to root, its parsed JSON) for one split."""
        if "{subtype}" in self.questions:
            subtype = self._subtypes(root)[split]
            q_rel = _fill(self.questions, subtype=subtype, split=split)
            return subtype, q_rel, load_json(require_file(root / q_rel, NAME), NAME)
        # One fixed file: load it once and take the subtype from it.
        path = require_file(root / self.questions, NAME)
        data = load_json(path, NAME)
        return self._fixed_subtype(data, path), self.questions, data

    def splits(self, root: Path) -> list[str]:
        return list(self._subtypes(root))

    def info(self, root: Path) -> CorpusInfo:
        return CorpusInfo(class_names=None, tasks=("vqa",))

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        subtype, q_rel, data = self._questions(root, split)
        a_rel = _fill(self.annotations, subtype=subtype, split=split)
        questions = _list_of(data, "questions", root / q_rel)
        annotated = (root / a_rel).is_file()
        by_qid: dict[int, dict[str, Any]] = {}
        if annotated:
            yield from self._index_annotations(root / a_rel, a_rel, by_qid)
        seen: set[Any] = set()
        for i, q in enumerate(questions):
            qid = q.get("question_id") if isinstance(q, dict) else None
            if _is_int(qid):  # anything else is rejected by the record's own checks
                if qid in seen:
                    yield Rejection(q_rel, f"questions[{i}]", f"duplicate question_id {qid}")
                    continue
                seen.add(qid)
            yield self._record(q, i, subtype, split, q_rel, a_rel if annotated else None,
                               by_qid, root)
        # Annotations no question asked for are input rows too: report, never drop.
        for qid in by_qid:
            yield Rejection(a_rel, f"question_id {qid}", f"annotation has no question in {q_rel}")

    def _index_annotations(self, path: Path, rel: str,
                           by_qid: dict[int, dict[str, Any]]) -> Iterator[Rejection]:
        for i, ann in enumerate(_list_of(load_json(path, NAME), "annotations", path)):
            problem = _annotation_problem(ann)
            if problem is None and ann["question_id"] in by_qid:
                problem = f"duplicate annotation for question_id {ann['question_id']}"
            if problem is not None:
                yield Rejection(rel, f"annotations[{i}]", problem)
            else:
                by_qid[ann["question_id"]] = ann

    def _record(self, q: Any, index: int, subtype: str, split: str, q_rel: str,
                a_rel: str | None, by_qid: dict[int, dict[str, Any]], root: Path) -> Item:
        problem = _question_problem(q)
        if problem is not None:
            return Rejection(q_rel, f"questions[{index}]", problem)
        qid, image_id = q["question_id"], q["image_id"]
        locator = f"question_id {qid}"
        meta: dict[str, Any] = {"question_id": qid, "image_id": image_id, "data_subtype": subtype}
        meta.update({k: v for k, v in q.items() if k not in QUESTION_KEYS})
        answers: list[str] = []
        if a_rel is not None:
            ann = by_qid.pop(qid, None)
            if ann is None:
                return Rejection(q_rel, locator, f"question has no annotation in {a_rel}")
            if ann.get("image_id", image_id) != image_id:
                return Rejection(a_rel, locator, f"annotation image_id {ann['image_id']} "
                                                 f"differs from question image_id {image_id}")
            answers = [a["answer"] for a in ann["answers"]]
            meta.update(_answer_meta(ann))
        name = _fill(self.images, image_id=image_id, subtype=subtype,
                                  image_subtype=image_subtype(subtype), split=split)
        return make_record(
            id=f"{subtype}-{qid}",
            images=[ImageRef(name=name, path=root / name)],
            question=q["question"],
            answers=answers,
            source={"dataset": NAME, "file": q_rel, "locator": locator},
            meta=meta,
        )
