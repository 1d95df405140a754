"""Efficiency probes: FLOPs counted on a model whose count is known by hand, latency
percentiles in order, the Pareto front of score against cost."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmbench.diagnostics.efficiency import MIN_TIMED, PROBE_BATCH, pareto, probe


class _Linear:
    """A 16 -> 2 linear map of a fixed input per row: 2 * 16 * 2 FLOPs per sample."""

    uses_images = False

    def __init__(self) -> None:
        import torch

        self.weight = torch.ones(16, 2)

    def predict_proba(self, batch: Any) -> np.ndarray:
        import torch

        logits = torch.ones(len(batch), 16) @ self.weight
        return torch.softmax(logits, dim=-1).numpy()


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from mmbench.adapters.shapes import ShapesAdapter
    from mmbench.data import build, load

    home = tmp_path_factory.mktemp("home")
    build(ShapesAdapter(scale=0.05), home=home)
    return load("shapes", home)["test"]


def test_the_probe_counts_flops_and_orders_its_latencies(split: Any) -> None:
    figures = probe(_Linear(), split, rows=len(split), predict_s=0.5)
    assert figures["probe_batch"] == PROBE_BATCH and figures["timed_calls"] == MIN_TIMED
    assert figures["flops_per_sample"] == pytest.approx(2 * 16 * 2)
    assert 0 < figures["latency_batch_p50_ms"] <= figures["latency_batch_p95_ms"]
    assert figures["latency_sample_p50_ms"] == pytest.approx(figures["latency_batch_p50_ms"] / PROBE_BATCH)
    assert figures["throughput_per_s"] == pytest.approx(len(split) / 0.5)
    assert figures["peak_rss_mb"] > 10 and figures["device"] == "cpu"


class _Counting(_Linear):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def predict_proba(self, batch: Any) -> np.ndarray:
        self.calls.append(len(batch))
        return super().predict_proba(batch)


def test_latency_is_read_from_the_evaluations_own_calls(split: Any) -> None:
    """Enough full batches: no extra call but the FLOP count's; the warm-up call and the
    ragged last batch are left out of the percentiles."""
    calls = [(64, 9.0)] + [(64, t) for t in (0.010, 0.020, 0.030, 0.040, 0.050, 0.060)] + [(7, 5.0)]
    model = _Counting()
    figures = probe(model, split, rows=455, predict_s=1.0, calls=calls)
    assert model.calls == [PROBE_BATCH]  # the FLOP count alone
    assert figures["probe_batch"] == 64 and figures["timed_calls"] == 6
    assert figures["latency_batch_p50_ms"] == pytest.approx(35.0)
    assert figures["latency_batch_p95_ms"] == pytest.approx(np.percentile([10, 20, 30, 40, 50, 60], 95))
    assert figures["latency_sample_p50_ms"] == pytest.approx(35.0 / 64)


def test_a_small_split_tops_its_timed_calls_up(split: Any) -> None:
    model = _Counting()
    figures = probe(model, split, rows=20, predict_s=0.1, calls=[(20, 0.5), (20, 0.001)])
    # one call of the evaluation counts; its first batch of 20 is timed MIN_TIMED - 1 more times
    assert model.calls == [20] * (MIN_TIMED - 1) + [PROBE_BATCH]
    assert figures["timed_calls"] == MIN_TIMED and figures["probe_batch"] == 20


class _Recording(_Linear):
    """Keeps the ids of every batch it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[list[str]] = []

    def predict_proba(self, batch: Any) -> np.ndarray:
        self.seen.append(list(batch.ids))
        return super().predict_proba(batch)


@pytest.mark.parametrize("first_rows", [None, 64, 16])
def test_flops_are_counted_on_the_splits_first_rows_cut_from_the_first_batch(
        split: Any, first_rows: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The evaluation's first batch, when it holds PROBE_BATCH rows, gives them (nothing is
    loaded again); a smaller one does not, and they are loaded: the same rows either way."""
    from mmbench.loader import BatchLoader

    calls = [(64, 0.01)] * (MIN_TIMED + 1)
    first = None if first_rows is None else next(iter(BatchLoader(split, batch_size=first_rows, image_size=None)))
    if first_rows and first_rows >= PROBE_BATCH:
        monkeypatch.setattr(BatchLoader, "__iter__", lambda self: pytest.fail("loaded the rows again"))
    model = _Recording()
    figures = probe(model, split, rows=len(split), predict_s=1.0, calls=calls, first=first)
    assert model.seen == [list(split.select(range(PROBE_BATCH))["id"])]
    assert figures["flops_per_sample"] == pytest.approx(2 * 16 * 2)


def test_a_model_without_torch_has_no_flop_count(split: Any) -> None:
    class Constant:
        def predict_proba(self, batch: Any) -> np.ndarray:
            return np.full((len(batch), 2), 0.5)

    assert probe(Constant(), split, rows=len(split), predict_s=0.1)["flops_per_sample"] is None


def test_the_pareto_front_drops_dominated_models() -> None:
    points = {"cheap-weak": (0.6, 1.0), "dear-strong": (0.9, 10.0), "dominated": (0.55, 5.0),
              "same-score-dearer": (0.9, 12.0)}
    assert pareto(points) == {"cheap-weak", "dear-strong"}
    # lower is better: the cheapest low score wins
    assert pareto({"a": (0.1, 1.0), "b": (0.2, 2.0)}, higher_is_better=False) == {"a"}


def test_a_step_peak_sees_memory_held_only_inside_the_step() -> None:
    from mmbench.diagnostics.memory import StepPeak, current_rss_mb

    before = current_rss_mb()
    if before is None:
        pytest.skip("no /proc/self/statm on this system: the step peak is the process's lifetime peak")
    with StepPeak() as quiet:
        pass
    with StepPeak() as busy:
        block = np.ones(64 * 2**20 // 8)  # 64 MB, touched
        time.sleep(0.1)
        del block
    assert busy.mb >= before + 50 and quiet.mb < busy.mb


def test_fit_records_its_own_peak_memory_and_the_artifact_keeps_it(tmp_path: Path) -> None:
    import mmbench
    from mmbench.runner.artifacts import ArtifactStore

    suite = tmp_path / "suite.yaml"
    suite.write_text(json.dumps({"name": "peak", "seeds": 1, "models": ["concat-fusion"],
                                 "datasets": ["shapes"], "train": {"shapes": {"epochs": 1, "min_epochs": 1}}}))
    first = mmbench.run(str(suite), store=tmp_path / "store", limit=40)
    peak = first[0].model_info["fit_peak_mb"]
    assert peak > 50  # a Python process with torch loaded holds more than that
    manifest = ArtifactStore(tmp_path / "store").manifest(first[0].fit_key)
    assert manifest["timings"]["fit_peak_mb"] == pytest.approx(peak, abs=0.1)


def test_flops_agree_with_torchs_counter_and_need_no_dynamo() -> None:
    import subprocess
    import sys

    script = """
import sys, torch
from torch import nn
from mmbench.diagnostics.efficiency import _flops
from mmbench.models.encoders import GRUText, SmallCNN
torch.manual_seed(0)
class Model:
    def __init__(self):
        self.cnn, self.gru, self.head = SmallCNN(16, 8).eval(), GRUText(30, 8, 12).eval(), nn.Linear(28, 3)
    def predict_proba(self, batch):
        with torch.no_grad():
            images, tokens = batch
            feats = torch.cat([self.cnn(images), self.gru(tokens, torch.full((len(tokens),), 5))], dim=1)
            return torch.softmax(self.head(feats), dim=-1).numpy()
batch = (torch.rand(4, 3, 32, 32), torch.randint(1, 30, (4, 5)))
ours = _flops(Model(), batch)
assert "torch._dynamo" not in sys.modules, "counting FLOPs imported torch._dynamo"
from torch.utils.flop_counter import FlopCounterMode
model = Model()
with FlopCounterMode(display=False) as counter:
    model.predict_proba(batch)
print(ours, float(counter.get_total_flops()))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    ours, torchs = float(out[0]), float(out[1])
    assert ours > 0 and ours == torchs
