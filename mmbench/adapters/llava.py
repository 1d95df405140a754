"""`llava`: LLaVA-style conversation files (LLaVA json/jsonl, ShareGPT `messages`).

LLaVA publishes a JSON list of `{"id", "image": "rel/path.jpg", "conversations":
[{"from": "human"|"gpt", "value": "<image>\\n..."}]}`; `image` is absent for
text-only samples and may be a list for multi-image data. The ShareGPT layout used
by LLaMA-Factory has `messages: [{"role": "user"|"assistant", "content"}]` and an
`images` list instead. A record maps the first user turn (without `<image>`
tokens) to `question` and the first assistant turn after it to `answers[0]`; the
whole conversation stays in `meta`. LLaVA's evaluation question files (one
`{"question_id", "image", "text"}` per line, answers in a separate file joined on
`question_id`) are read too.
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
    corpus_dir,
    load_json,
    read_json_lines,
    require_file,
    single_file,
)
from mmbench.schema import make_record

NAME = "llava"
IMAGE_TOKEN = "<image>"
USER_ROLES = {"human", "user"}
ASSISTANT_ROLES = {"gpt", "assistant"}
OTHER_ROLES = {"system", "tool", "function", "observation"}
# The token and the whitespace/newline LLaVA puts next to it.
TOKEN_RE = re.compile(r"\s*<image>\s*")

Turn = tuple[str, str]  # (user|assistant|other, text)


def _turns(row: dict[str, Any], answers: dict[str, str]) -> list[Turn] | str:
    """The conversation as (role, text) pairs, or why it cannot be read."""
    if "conversations" not in row and "messages" not in row and "question_id" in row:
        return _question_turns(row, answers)
    if "conversations" in row:
        key, role_key, text_key = "conversations", "from", "value"
    elif "messages" in row:
        key, role_key, text_key = "messages", "role", "content"
    else:
        return "missing required field 'conversations'"
    turns = row[key]
    if not isinstance(turns, list) or not turns:
        return f"field {key!r} must be a non-empty list"
    out: list[Turn] = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or not isinstance(turn.get(text_key), str):
            return f"turn {i} of {key!r} has no text {text_key!r}"
        role = turn.get(role_key)
        if not isinstance(role, str):
            return f"turn {i} of {key!r} has a role {role!r} that is not a string"
        if role in USER_ROLES:
            out.append(("user", turn[text_key]))
        elif role in ASSISTANT_ROLES:
            out.append(("assistant", turn[text_key]))
        elif role in OTHER_ROLES:
            out.append(("other", turn[text_key]))
        else:
            return f"turn {i} of {key!r} has unknown role {role!r}"
    return out


def _question_turns(row: dict[str, Any], answers: dict[str, str]) -> list[Turn] | str:
    """An evaluation question line; its reply, if any, comes from the answers file."""
    if not isinstance(row.get("text"), str):
        return "missing required field 'text'"
    reply = answers.get(str(row["question_id"]))
    return [("user", row["text"])] + ([] if reply is None else [("assistant", reply)])


def _image_names(row: dict[str, Any]) -> list[str] | str:
    """Published image paths of a row (LLaVA `image`, str or list; ShareGPT `images`)."""
    value = row.get("image", row.get("images"))
    if value is None:
        return []
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        return "field 'image' must be a path or a list of paths"
    return names


def _question_answer(turns: list[Turn]) -> tuple[str, list[str]] | str:
    """First user turn (tokens stripped) and the first assistant reply after it."""
    first = next((i for i, (role, _) in enumerate(turns) if role == "user"), None)
    if first is None:
        return "conversation has no human turn"
    question = TOKEN_RE.sub("\n", turns[first][1]).strip()
    reply = next((text for role, text in turns[first + 1:] if role == "assistant"), None)
    return question, [] if reply is None else [reply]


@register_adapter(NAME)
@dataclass
class LlavaAdapter(Adapter):
    """LLaVA conversation data as VQA records (first question, first answer)."""

    description = "LLaVA / ShareGPT conversation json or jsonl with an image folder (VQA)"
    version = "1"

    file: str = field(default="", metadata={
        "help": "annotation file relative to the root (default: the only .json/.jsonl there)"})
    image_folder: str = field(default="", metadata={
        "help": "folder that image paths are relative to (default: the root)"})
    answers_file: str = field(default="", metadata={
        "help": "jsonl of {question_id, text} answers for a question file (LLaVA-Bench)"})
    split: str = field(default="test", metadata={"help": "split name for the records"})
    keep_text_only: bool = field(default=False, metadata={
        "help": "keep records without an image as text-only instead of rejecting them"})

    def _annotation(self, root: Path) -> Path:
        return single_file(
            root, self.file, NAME,
            lambda: sorted(p for p in root.iterdir()
                           if p.suffix in (".json", ".jsonl") and p.is_file()),
            none="no .json/.jsonl file", several="annotation files")

    def splits(self, root: Path) -> list[str]:
        self._annotation(root)
        return [self.split]

    def info(self, root: Path) -> CorpusInfo:
        return CorpusInfo(tasks=("vqa",))

    def examples(self, root: Path, split: str) -> Iterator[Item]:
        path = self._annotation(root)
        display = path.name if root.is_file() else path.relative_to(root).as_posix()
        folder = corpus_dir(root) / self.image_folder
        answers = self._answers(root)
        for locator, row in self._rows(path, display):
            if isinstance(row, Rejection):
                yield row
            else:
                yield self._record(folder, display, locator, row, answers)

    def _answers(self, root: Path) -> dict[str, str]:
        """question_id -> answer text from `answers_file`; unusable lines stop the build."""
        if not self.answers_file:
            return {}
        path = require_file(corpus_dir(root) / self.answers_file, NAME)
        out: dict[str, str] = {}
        for lineno, obj in read_json_lines(path, self.answers_file):
            # A bad answer line cannot be tied to its question, so it fails loudly.
            if isinstance(obj, Rejection) or not isinstance(obj.get("text"), str):
                raise AdapterError(f"{NAME}: {path} line {lineno} is not an answer"
                                   " {question_id, text}")
            out[str(obj.get("question_id"))] = obj["text"]
        return out

    def _rows(self, path: Path, display: str) -> Iterator[tuple[str, dict[str, Any] | Rejection]]:
        """(locator, object) per record: `line N` for jsonl, `record N` (0-based) for json."""
        if path.suffix == ".jsonl":
            for lineno, obj in read_json_lines(path, display):
                yield f"line {lineno}", obj
            return
        data = load_json(path, NAME)
        if not isinstance(data, list):
            raise AdapterError(f"{NAME}: {path} must hold a JSON list of records")
        for i, obj in enumerate(data):
            locator = f"record {i}"
            if isinstance(obj, dict):
                yield locator, obj
            else:
                yield locator, Rejection(display, locator, "record is not a JSON object")

    def _parse(self, row: dict[str, Any], answers: dict[str, str]
               ) -> tuple[list[str], str, list[str]] | str:
        """(image paths, question, answers) of a row, or why it cannot be used."""
        turns = _turns(row, answers)
        if isinstance(turns, str):
            return turns
        names = _image_names(row)
        if isinstance(names, str):
            return names
        problem = self._image_problem(turns, names)
        if problem:
            return problem
        qa = _question_answer(turns)
        return qa if isinstance(qa, str) else (names, *qa)

    def _record(self, folder: Path, display: str, locator: str, row: dict[str, Any],
                replies: dict[str, str]) -> Item:
        parsed = self._parse(row, replies)
        if isinstance(parsed, str):
            return Rejection(display, locator, parsed)
        names, question, answers = parsed
        raw_id = row.get("id", row.get("question_id"))
        # ShareGPT files carry no id; the position in the file is the stable key then.
        rid = str(raw_id) if raw_id not in (None, "") else locator.replace(" ", "-")
        meta = {k: v for k, v in row.items() if k not in ("image", "images")}
        meta["image_paths"] = names
        return make_record(
            id=rid,
            images=[ImageRef(name=n, path=folder / n) for n in names],
            question=question,
            answers=answers,
            source={"dataset": NAME, "file": display, "locator": locator},
            meta=meta,
        )

    def _image_problem(self, turns: list[Turn], names: list[str]) -> str | None:
        tokens = sum(text.count(IMAGE_TOKEN) for _, text in turns)
        if not names:
            if tokens:
                return f"conversation has {tokens} {IMAGE_TOKEN} token(s) but no image"
            if not self.keep_text_only:
                return "text-only record (no image); keep_text_only keeps it"
        elif tokens and tokens != len(names):
            return f"conversation has {tokens} {IMAGE_TOKEN} token(s) for {len(names)} image(s)"
        return None
