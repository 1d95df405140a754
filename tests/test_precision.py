"""Autocast precision: a runtime choice, applied to every forward pass of a unit, recorded."""

from pathlib import Path

import numpy as np
import pytest
import torch

import mmbench
from mmbench.precision import PrecisionError, check_precision, computing_in, current, grad_scaler
from mmbench.runner.store import ResultStore

TINY = str(Path(__file__).parent / "data" / "tiny_suite.yaml")


def test_bf16_runs_the_unit_under_autocast_and_says_so(tmp_path: Path) -> None:
    fp32 = mmbench.run(TINY, models=["concat-fusion"], seeds=1, store=tmp_path / "a", threads=1)[0]
    bf16 = mmbench.run(TINY, models=["concat-fusion"], seeds=1, store=tmp_path / "b", threads=1,
                       precision="bf16")[0]
    assert (fp32.env["precision"], bf16.env["precision"]) == ("fp32", "bf16")
    probs = [np.array(ResultStore(tmp_path / s).predictions(r.key).column("probs").to_pylist())
             for s, r in (("a", fp32), ("b", bf16))]
    assert all(np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1.0) for p in probs)
    assert not np.array_equal(probs[0], probs[1])  # bf16 arithmetic did run
    assert 0.0 <= bf16.metrics["accuracy"]["value"] <= 1.0


def test_the_context_turns_autocast_on_for_its_block_only() -> None:
    with computing_in("bf16", "cpu"):
        assert current() == "bf16" and torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
        product = torch.ones(4, 4) @ torch.ones(4, 4)
        assert product.dtype == torch.bfloat16
    assert current() == "fp32" and not torch.is_autocast_enabled("cpu")
    with computing_in("fp32", "cpu"):
        assert not torch.is_autocast_enabled("cpu")
    assert grad_scaler("cpu") is None  # loss scaling is for fp16 on CUDA only


def test_an_unknown_precision_is_refused_before_any_work(tmp_path: Path) -> None:
    assert check_precision(" BF16 ") == "bf16"
    with pytest.raises(PrecisionError, match="fp32, bf16, fp16"):
        mmbench.run(TINY, models=["majority"], seeds=1, store=tmp_path, precision="fp8")
    assert not (tmp_path / "records").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 loss scaling needs a CUDA device")
def test_fp16_on_cuda_scales_the_loss() -> None:
    with computing_in("fp16", "cuda"):
        assert isinstance(grad_scaler("cuda"), torch.amp.GradScaler)
