"""Efficiency probes: FLOPs counted on a model whose count is known by hand, latency
percentiles in order, the Pareto front of score against cost."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mmbench.diagnostics.efficiency import PROBE_BATCH, pareto, probe


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
    assert figures["probe_batch"] == PROBE_BATCH
    assert figures["flops_per_sample"] == pytest.approx(2 * 16 * 2)
    assert 0 < figures["latency_batch_p50_ms"] <= figures["latency_batch_p95_ms"]
    assert figures["latency_sample_p50_ms"] == pytest.approx(figures["latency_batch_p50_ms"] / PROBE_BATCH)
    assert figures["throughput_per_s"] == pytest.approx(len(split) / 0.5)
    assert figures["peak_rss_mb"] > 10 and figures["device"] == "cpu"


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
