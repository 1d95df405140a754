from pathlib import Path

import numpy as np
import pytest

from mmbench import data
from mmbench.adapters.shapes import ShapesAdapter
from mmbench.loader import BatchLoader, primary_text


def _shapes(home: Path) -> object:
    data.build(ShapesAdapter(scale=0.05), home=home)
    return data.load("shapes", home)


def test_batches_cover_the_split_in_order(isolated_home: Path) -> None:
    split = _shapes(isolated_home)["test"]
    batches = list(BatchLoader(split, batch_size=16, image_size=24))
    ids = [i for b in batches for i in b.ids]
    assert ids == split["id"]
    first = batches[0]
    assert tuple(first.images.shape) == (16, 3, 24, 24)
    assert float(first.images.min()) >= 0.0 and float(first.images.max()) <= 1.0
    assert first.labels.tolist() == split["label"][:16]
    assert first.texts[0] == split["question"][0]


def test_shuffle_is_seeded_and_changes_per_epoch(isolated_home: Path) -> None:
    split = _shapes(isolated_home)["train"]
    a = BatchLoader(split, batch_size=1000, image_size=None, shuffle=True, seed=7)
    b = BatchLoader(split, batch_size=1000, image_size=None, shuffle=True, seed=7)
    epoch1, epoch1_again = next(iter(a)).ids, next(iter(b)).ids
    epoch2 = next(iter(a)).ids
    assert epoch1 == epoch1_again
    assert epoch1 != epoch2 and sorted(epoch1) == sorted(epoch2) == sorted(split["id"])
    assert a.image_size is None and next(iter(b)).images is None


def test_selected_rows_are_honoured(isolated_home: Path) -> None:
    split = _shapes(isolated_home)["train"].select([5, 2, 9])
    batch = next(iter(BatchLoader(split, batch_size=8, image_size=8)))
    assert batch.ids == split["id"]


def test_worker_processes_give_the_same_batches(isolated_home: Path) -> None:
    split = _shapes(isolated_home)["val"]
    plain = list(BatchLoader(split, batch_size=10, image_size=16))
    workers = list(BatchLoader(split, batch_size=10, image_size=16, num_workers=2))
    assert [b.ids for b in plain] == [b.ids for b in workers]
    assert all(np.array_equal(p.images.numpy(), w.images.numpy()) for p, w in zip(plain, workers, strict=True))


def test_primary_text_prefers_text_then_question_then_hypothesis_then_caption() -> None:
    assert primary_text({"text": "t", "question": "q"}) == "t"
    assert primary_text({"text": None, "question": "q", "hypothesis": "h"}) == "q"
    assert primary_text({"hypothesis": "h"}) == "h"
    assert primary_text({"captions": ["c1", "c2"]}) == "c1"
    assert primary_text({}) == ""


def test_a_split_in_several_shards_loads_like_one(isolated_home: Path, monkeypatch) -> None:
    whole = _shapes(isolated_home / "one")["train"]
    monkeypatch.setattr(data, "CHUNK_ROWS", 7)  # 100 train rows -> 15 shards
    sharded = _shapes(isolated_home / "many")["train"]
    assert len(data.split_files("shapes", isolated_home / "many")["train"]) == 15
    for shuffle in (False, True):
        one = list(BatchLoader(whole, batch_size=16, image_size=8, shuffle=shuffle, seed=3))
        many = list(BatchLoader(sharded, batch_size=16, image_size=8, shuffle=shuffle, seed=3))
        assert [b.ids for b in one] == [b.ids for b in many]
        assert all(np.array_equal(a.images.numpy(), b.images.numpy())
                   for a, b in zip(one, many, strict=True))


def test_decoded_images_are_kept_across_epochs_and_equal_fresh_decodes(
        isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from mmbench import loader as loader_module

    split = _shapes(isolated_home)["train"]
    cached = BatchLoader(split, batch_size=16, image_size=32, shuffle=True, seed=3)
    uncached = BatchLoader(split, batch_size=16, image_size=32, shuffle=True, seed=3)
    uncached.image_cache = None
    list(cached), list(uncached)  # epoch 0 fills the cache
    decodes: list[int] = []
    real = loader_module._decode_images
    monkeypatch.setattr(loader_module, "_decode_images",
                        lambda blobs, size: (decodes.append(len(blobs)), real(blobs, size))[1])
    from_cache = list(cached)  # epoch 1, another order
    assert decodes == []
    decoded = list(uncached)  # the same epoch decoded again
    assert decodes
    for a, b in zip(from_cache, decoded, strict=True):
        assert a.ids == b.ids and a.texts == b.texts
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
