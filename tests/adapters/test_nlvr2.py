"""nlvr2 adapter: the real 8-line dev sample and JSON-lines faults."""

from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path

import pytest

from mmbench.adapters.base import AdapterError
from mmbench.data import info, load
from tests.adapters import _helpers as helpers
from tests.fakes.nlvr2 import row, write_fake

# identifier -> label in the real tiny-dev.json, in file order
REAL_LABELS = {"dev-850-0-0": "False", "dev-850-2-0": "True", "dev-850-3-0": "False",
               "dev-850-1-0": "True", "dev-850-1-1": "True", "dev-850-0-1": "False",
               "dev-850-3-1": "False", "dev-850-2-1": "True"}


adapter = partial(helpers.make_adapter, "nlvr2")
run = partial(helpers.run, "nlvr2")


def test_real_dev_sample(realdata: Path, isolated_home: Path) -> None:
    root = realdata / "nlvr2"
    report, rejected = run(root, isolated_home, files="dev=tiny-dev.json")
    assert (report.read, report.kept, rejected) == (8, 8, [])
    assert info("nlvr2", isolated_home).class_names == ["False", "True"]
    records = list(load("nlvr2", isolated_home)["dev"])
    assert [r["id"] for r in records] == list(REAL_LABELS)
    assert [r["source"]["locator"] for r in records] == [f"line {n}" for n in range(1, 9)]
    for r in records:
        assert r["label"] == ["False", "True"].index(REAL_LABELS[r["id"]])
        pair = r["id"].rsplit("-", 1)[0]
        # Left then right image, and the bytes are the files themselves.
        assert [i["path"] for i in r["images"]] == [f"images/{pair}-img0.png",
                                                    f"images/{pair}-img1.png"]
        for image in r["images"]:
            digest = hashlib.sha256((root / image["path"]).read_bytes()).hexdigest()
            # The published ".png" files hold JPEG data; the format is read from the bytes.
            assert image["sha256"] == digest and image["format"] == "JPEG"
    first = records[0]
    assert [(i["width"], i["height"]) for i in first["images"]] == [(340, 343), (960, 639)]
    assert first["text"] == ("The right image shows a curving walkway of dark glass circles "
                             "embedded in dirt and flanked by foliage.")
    meta = json.loads(first["meta"])
    assert (meta["writer"], meta["synset"], meta["query"]) == ("61", "beer bottle",
                                                                "some beer bottles38")
    assert meta["extra_validations"]["154"] == "False"


def test_fake_official_layout(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "nlvr2"
    expected = write_fake(root)
    report, rejected = run(root, isolated_home)
    assert report.kept == expected == 6 and rejected == []
    records = {r["id"]: r for s, d in load("nlvr2", isolated_home).items() for r in d}
    # Training images sit in the numbered folder named by `directory`.
    assert records["train-11-1-0"]["images"][1]["path"] == "images/train/7/train-11-1-img1.png"
    assert records["test1-30-2-0"]["images"][0]["path"] == "images/test1/test1-30-2-img0.png"
    assert records["dev-20-1-0"]["label"] == 1


def test_line_faults_are_reported(tmp_path: Path, isolated_home: Path) -> None:
    root = tmp_path / "nlvr2"
    write_fake(root)
    bad = [
        b'{"identifier": "dev-20-0-0", "label": "False"',  # 3: broken JSON
        b'{"identifier": "dev-20-0-1", "sentence": "caf\xe9", "label": "True"}',  # 4: not UTF-8
        json.dumps({**row("dev-20-0-2", "True", None), "label": "maybe"}).encode(),  # 5
        json.dumps({**row("dev-20-0-3", "True", None), "sentence": ""}).encode(),  # 6
        json.dumps(row("dev-20", "True", None)).encode(),  # 7: malformed identifier
        json.dumps(row("dev-99-0-0", "True", None)).encode(),  # 8: no such images
        json.dumps(row("dev-20-1-0", "False", None)).encode(),  # 9: duplicate identifier
        b"[1, 2]",  # 10: not an object
    ]
    with (root / "dev.json").open("ab") as handle:
        handle.write(b"\n".join(bad))  # last line without a newline
    report, rejected = run(root, isolated_home)
    found = {r["locator"]: r["reason"] for r in rejected}
    assert {r["file"] for r in rejected} == {"dev.json"}
    assert sorted(found, key=lambda loc: int(loc.split()[1])) == [
        f"line {n}" for n in range(3, 11)]
    assert found["line 3"].startswith("broken JSON")
    assert found["line 4"].startswith("invalid UTF-8")
    assert found["line 5"] == "unknown label 'maybe' (expected one of ['False', 'True'])"
    assert found["line 6"] == "missing sentence"
    assert found["line 7"] == "missing or malformed identifier 'dev-20'"
    assert found["line 8"] == "missing image file: images/dev/dev-99-0-img0.png"
    assert found["line 9"].startswith("duplicate id: 'dev-20-1-0'")
    assert found["line 10"] == "JSON line is not an object"
    assert report.splits["dev"].kept == 2


def test_unreadable_corpus_raises(tmp_path: Path, isolated_home: Path) -> None:
    helpers.assert_root_errors(adapter(), tmp_path, isolated_home, empty="train.json")
    with pytest.raises(AdapterError, match="dev2.json is missing"):
        adapter(files="dev=dev2.json").splits(tmp_path / "empty")
    with pytest.raises(AdapterError, match="not split=path"):
        adapter(files="dev.json").splits(tmp_path / "empty")
