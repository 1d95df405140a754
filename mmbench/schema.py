"""The one record schema every corpus is mapped into.

A record is a plain dict. `FEATURES` is its Arrow layout (Hugging Face `datasets`);
`validate()` checks a record before it is written and names the offending field.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

SCHEMA_VERSION = "1.0"

# Text fields a record may carry; `text` is the primary text input for a classifier
# (a claim, a question, a meme's text), the others keep the source's own roles.
TEXT_FIELDS = ("text", "question", "hypothesis")
LIST_TEXT_FIELDS = ("captions", "answers", "choices")
INT_FIELDS = ("label", "answer_index")
IMAGE_KEYS = ("bytes", "sha256", "width", "height", "format", "path")
SOURCE_KEYS = ("dataset", "file", "locator")
FIELDS = (
    "id",
    "split",
    "images",
    *TEXT_FIELDS,
    "captions",
    "label",
    "labels",
    "answers",
    "choices",
    "answer_index",
    "source",
    "meta",
)


class SchemaError(ValueError):
    """A record does not follow the schema; the message names the field."""


def features() -> Any:
    """The Arrow layout of a record as `datasets.Features` (imported lazily)."""
    from datasets import Features, List, Value

    image = {
        "bytes": Value("binary"),
        "sha256": Value("string"),
        "width": Value("int32"),
        "height": Value("int32"),
        "format": Value("string"),
        "path": Value("string"),
    }
    return Features(
        {
            "id": Value("string"),
            "split": Value("string"),
            "images": List(image),
            "text": Value("string"),
            "question": Value("string"),
            "hypothesis": Value("string"),
            "captions": List(Value("string")),
            "label": Value("int32"),
            "labels": List(Value("int32")),
            "answers": List(Value("string")),
            "choices": List(Value("string")),
            "answer_index": Value("int32"),
            "source": {k: Value("string") for k in SOURCE_KEYS},
            "meta": Value("string"),
        }
    )


def empty_record() -> dict[str, Any]:
    """A record with every field at its 'absent' value."""
    return {
        "id": "",
        "split": "",
        "images": [],
        "text": None,
        "question": None,
        "hypothesis": None,
        "captions": [],
        "label": None,
        "labels": [],
        "answers": [],
        "choices": [],
        "answer_index": None,
        "source": {"dataset": "", "file": "", "locator": ""},
        "meta": "{}",
    }


_FIELD_SET = frozenset(FIELDS)
INT32_MAX = 2**31 - 1  # label, labels, answer_index, width and height are int32 columns
# One shared encoder (json.dumps builds one per call); same output as
# json.dumps(sort_keys=True, ensure_ascii=False).
_META_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False)


def make_record(**fields: Any) -> dict[str, Any]:
    """Fill a record from keyword fields; `meta` may be a dict (serialised here)."""
    if not _FIELD_SET.issuperset(fields):
        raise SchemaError(f"unknown record field(s): {sorted(set(fields) - _FIELD_SET)}")
    record = empty_record()
    record.update(fields)
    if not isinstance(record["meta"], str):
        record["meta"] = _META_JSON.encode(record["meta"])
    return record


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_count(value: Any) -> bool:
    """A non-negative int that fits the int32 column it is stored in."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT32_MAX


def _image_problem(i: int, image: Any, check_digest: bool) -> tuple[str, str] | None:
    field = f"images[{i}]"
    if not isinstance(image, dict):
        return field, "must be a dict"
    missing = [k for k in IMAGE_KEYS if k not in image]
    if missing:
        return field, f"is missing {missing}"
    data = image["bytes"]
    if not isinstance(data, bytes) or not data:
        return f"{field}.bytes", "must be non-empty bytes"
    sha = image["sha256"]
    if check_digest:
        if sha != hashlib.sha256(data).hexdigest():
            return f"{field}.sha256", "does not match the bytes"
    elif not isinstance(sha, str) or len(sha) != 64:
        return f"{field}.sha256", "must be a hex sha256"
    for key in ("width", "height"):
        value = image[key]
        if not isinstance(value, int) or not 0 < value <= INT32_MAX:
            return f"{field}.{key}", "must be a positive int32"
    return None


def _problem(record: dict[str, Any], check_digests: bool) -> tuple[str, str] | None:
    """(field, message) of the first broken field, or None; messages are built only on failure."""
    if record.keys() != _FIELD_SET:
        missing = [f for f in FIELDS if f not in record]
        if missing:
            return ",".join(missing), "is missing"
        return ",".join(sorted(set(record) - _FIELD_SET)), "is not in the schema"
    for field in ("id", "split"):
        if not isinstance(record[field], str) or record[field] == "":
            return field, "must be a non-empty str"
    images = record["images"]
    if not isinstance(images, list):
        return "images", "must be a list"
    for i, image in enumerate(images):
        problem = _image_problem(i, image, check_digests)
        if problem is not None:
            return problem
    for field in TEXT_FIELDS:
        value = record[field]
        if value is not None and not isinstance(value, str):
            return field, "must be a str or None"
    for field in LIST_TEXT_FIELDS:
        if not _is_str_list(record[field]):
            return field, "must be a list of str"
    for field in INT_FIELDS:
        value = record[field]
        if value is not None and not _is_count(value):
            return field, "must be a non-negative int32 or None"
    labels = record["labels"]
    if not isinstance(labels, list) or not all(_is_count(v) for v in labels):
        return "labels", "must be a list of non-negative int32"
    if record["answer_index"] is not None and record["answer_index"] >= len(record["choices"]):
        return "answer_index", "is out of range of choices"
    if not images and not record["captions"] and not any(record[f] for f in TEXT_FIELDS):
        return "images", "and every text field are empty"
    source = record["source"]
    if not isinstance(source, dict) or not all(isinstance(source.get(k), str) for k in SOURCE_KEYS):
        return "source", f"must be a dict of str with keys {SOURCE_KEYS}"
    if not isinstance(record["meta"], str):
        return "meta", "must be a JSON string"
    return None


def validate(record: Any, check_digests: bool = True) -> None:
    """Raise SchemaError naming the first field of `record` that breaks the schema.

    `check_digests=False` skips re-hashing image bytes, for a caller (the builder) that
    has just computed each `sha256` from those very bytes.
    """
    if not isinstance(record, dict):
        raise SchemaError(f"a record must be a dict, got {type(record).__name__}")
    problem = _problem(record, check_digests)
    rid = str(record.get("id", "?"))
    if problem is not None:
        raise SchemaError(f"record {rid!r}: field '{problem[0]}' {problem[1]}")
    if record["meta"] == "{}":  # the common empty case needs no parse
        return
    try:
        meta = json.loads(record["meta"])
    except json.JSONDecodeError as err:
        raise SchemaError(f"record {rid!r}: field 'meta' is not valid JSON: {err}") from err
    if not isinstance(meta, dict):
        raise SchemaError(f"record {rid!r}: field 'meta' must encode a JSON object")
