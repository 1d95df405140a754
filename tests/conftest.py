"""Shared fixtures: an isolated dataset home per test, and the real data samples."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.s3_server import s3, s3_endpoint  # noqa: F401 (fixtures: a local S3 server and a bucket)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("MMBENCH_REALDATA", REPO.parent / "shared" / "realdata"))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "mmbench-home"
    monkeypatch.setenv("MMBENCH_HOME", str(home))
    monkeypatch.setenv("MMBENCH_CACHE", str(tmp_path / "mmbench-cache"))  # mirrors of remote homes
    return home


@pytest.fixture
def realdata() -> Path:
    """The real format samples in ../shared/realdata; skips when that folder is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real data samples not found at {REALDATA} (../shared is absent)")
    return REALDATA


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny models on a shared, busy machine run faster on one thread than fighting over two."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_shapes(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A 3% build of the shapes corpus (60 / 15 / 30 rows), shared by a test module."""
    from mmbench import data
    from mmbench.adapters.shapes import ShapesAdapter

    home = tmp_path_factory.mktemp("home")
    data.build(ShapesAdapter(scale=0.03), name="shapes-tiny", home=home)
    return data.load("shapes-tiny", home=home)


@pytest.fixture(scope="module")
def tiny_batch(tiny_shapes: Any) -> Any:
    """The first 16 test rows of `tiny_shapes`, as a decoded Batch."""
    from mmbench.loader import BatchLoader

    return next(iter(BatchLoader(tiny_shapes["test"], batch_size=16, image_size=32)))


@pytest.fixture(scope="session")
def site_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(dataset home, store) of a small real run with every diagnostic, for the site's tests:
    three models on a 120-record slice of shapes, two seeds, one epoch."""
    import json

    import mmbench

    tmp = tmp_path_factory.mktemp("site-run")
    suite = tmp / "site.yaml"
    suite.write_text(json.dumps({"name": "site", "seeds": 2, "models": ["text-only", "image-only", "concat-fusion"],
                                 "datasets": ["shapes"], "train": {"shapes": {"epochs": 1, "min_epochs": 1}},
                                 "diagnostics": ["modality", "robustness", "calibration", "efficiency"]}))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMBENCH_HOME", str(tmp / "home"))
        mmbench.run(str(suite), store=tmp / "store", limit=120)
    return tmp / "home", tmp / "store"


@pytest.fixture(scope="session")
def site_board(site_run: tuple[Path, Path]) -> Any:
    """(board, records, predictions reader) of `site_run`, with HTML probes as user strings."""
    from tests.site_fixtures import make_board

    return make_board(site_run)


@pytest.fixture(scope="session")
def site(site_board: Any, site_run: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The leaderboard folder (Markdown, CSV and site) written from `site_board`."""
    from tests.site_fixtures import make_site

    return make_site(site_board, site_run, tmp_path_factory.mktemp("site") / "leaderboard")
