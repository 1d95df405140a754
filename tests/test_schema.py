import hashlib
import json

import pytest

from mmbench.schema import SCHEMA_VERSION, SchemaError, features, make_record, validate


def _image(data: bytes = b"\x89PNG fake") -> dict:
    return {"bytes": data, "sha256": hashlib.sha256(data).hexdigest(), "width": 4, "height": 3,
            "format": "PNG", "path": "a.png"}


def good() -> dict:
    return make_record(id="r1", split="train", images=[_image()], text="a claim", label=1,
                       source={"dataset": "x", "file": "f.jsonl", "locator": "line 1"},
                       meta={"extra": [1, 2]})


def test_good_record_passes_and_meta_is_json() -> None:
    record = good()
    validate(record)
    assert json.loads(record["meta"]) == {"extra": [1, 2]}
    assert SCHEMA_VERSION
    assert set(features()) == set(record)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.pop("label"), "field 'label' is missing"),
        (lambda r: r.update(id=""), "field 'id' must be a non-empty str"),
        (lambda r: r.update(split=None), "field 'split'"),
        (lambda r: r["images"][0].update(sha256="0" * 64), "images[0].sha256' does not match"),
        (lambda r: r["images"][0].update(width=0), "images[0].width' must be a positive int"),
        (lambda r: r.update(label=-1), "field 'label' must be a non-negative int"),
        (lambda r: r.update(label=True), "field 'label'"),
        (lambda r: r.update(label=2**31), "field 'label' must be a non-negative int32"),
        (lambda r: r.update(labels=[1, 2**40]), "field 'labels' must be a list of non-negative int32"),
        (lambda r: r["images"][0].update(height=2**31), "images[0].height' must be a positive int32"),
        (lambda r: r.update(captions=["ok", 3]), "field 'captions' must be a list of str"),
        (lambda r: r.update(choices=["a"], answer_index=2), "answer_index' is out of range"),
        (lambda r: r.update(meta="{not json"), "field 'meta' is not valid JSON"),
        (lambda r: r.update(meta="[1]"), "field 'meta' must encode a JSON object"),
        (lambda r: r.update(images=[], text=None), "every text field are empty"),
        (lambda r: r.update(source={"dataset": "x"}), "field 'source'"),
        (lambda r: r.update(bogus=1), "field 'bogus' is not in the schema"),
    ],
)
def test_malformed_records_are_rejected_with_the_field_named(mutate, message) -> None:
    record = good()
    mutate(record)
    with pytest.raises(SchemaError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate(record)


def test_make_record_refuses_unknown_fields() -> None:
    with pytest.raises(SchemaError, match="unknown record field"):
        make_record(id="x", caption="not a schema field")
