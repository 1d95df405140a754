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


def make_record(**fields: Any) -> dict[str, Any]:
    """Fill a record from keyword fields; `meta` may be a dict (serialised here)."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise SchemaError(f"unknown record field(s): {sorted(unknown)}")
    record = empty_record()
    record.update(fields)
    if not isinstance(record["meta"], str):
        record["meta"] = json.dumps(record["meta"], sort_keys=True, ensure_ascii=False)
    return record


def _check(cond: bool, rid: str, field: str, message: str) -> None:
    if not cond:
        raise SchemaError(f"record {rid!r}: field '{field}' {message}")


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _validate_image(rid: str, i: int, image: Any) -> None:
    field = f"images[{i}]"
    _check(isinstance(image, dict), rid, field, "must be a dict")
    missing = [k for k in IMAGE_KEYS if k not in image]
    _check(not missing, rid, field, f"is missing {missing}")
    data = image["bytes"]
    _check(isinstance(data, bytes) and len(data) > 0, rid, f"{field}.bytes", "must be non-empty bytes")
    digest = hashlib.sha256(data).hexdigest()
    _check(image["sha256"] == digest, rid, f"{field}.sha256", "does not match the bytes")
    for key in ("width", "height"):
        value = image[key]
        _check(isinstance(value, int) and value > 0, rid, f"{field}.{key}", "must be a positive int")


def validate(record: Any) -> None:
    """Raise SchemaError naming the first field of `record` that breaks the schema."""
    if not isinstance(record, dict):
        raise SchemaError(f"a record must be a dict, got {type(record).__name__}")
    rid = str(record.get("id", "?"))
    missing = [f for f in FIELDS if f not in record]
    _check(not missing, rid, ",".join(missing), "is missing")
    extra = sorted(set(record) - set(FIELDS))
    _check(not extra, rid, ",".join(extra), "is not in the schema")
    _check(isinstance(record["id"], str) and record["id"] != "", rid, "id", "must be a non-empty str")
    _check(isinstance(record["split"], str) and record["split"] != "", rid, "split", "must be a non-empty str")
    _check(isinstance(record["images"], list), rid, "images", "must be a list")
    for i, image in enumerate(record["images"]):
        _validate_image(rid, i, image)
    for field in TEXT_FIELDS:
        value = record[field]
        _check(value is None or isinstance(value, str), rid, field, "must be a str or None")
    for field in LIST_TEXT_FIELDS:
        _check(_is_str_list(record[field]), rid, field, "must be a list of str")
    for field in INT_FIELDS:
        value = record[field]
        ok = value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
        _check(ok, rid, field, "must be a non-negative int or None")
    labels = record["labels"]
    ok = isinstance(labels, list) and all(isinstance(v, int) and v >= 0 for v in labels)
    _check(ok, rid, "labels", "must be a list of non-negative int")
    if record["answer_index"] is not None:
        _check(record["answer_index"] < len(record["choices"]), rid, "answer_index", "is out of range of choices")
    has_text = any(record[f] for f in TEXT_FIELDS) or bool(record["captions"])
    _check(bool(record["images"]) or has_text, rid, "images", "and every text field are empty")
    source = record["source"]
    _check(isinstance(source, dict) and all(isinstance(source.get(k), str) for k in SOURCE_KEYS),
           rid, "source", f"must be a dict of str with keys {SOURCE_KEYS}")
    _check(isinstance(record["meta"], str), rid, "meta", "must be a JSON string")
    try:
        meta = json.loads(record["meta"])
    except json.JSONDecodeError as err:
        raise SchemaError(f"record {rid!r}: field 'meta' is not valid JSON: {err}") from err
    _check(isinstance(meta, dict), rid, "meta", "must encode a JSON object")
