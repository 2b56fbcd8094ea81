"""Pitfall: the shorter last window dropped: its targets never count (language_model.perplexity)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def perplexity(model, data, block_size, batch_size=32):
    n = data.shape[0]
    if n < 2:
        raise ValueError(f"len(data)={n} < 2")
    if block_size > model.block_size:
        raise ValueError(f"block_size={block_size} > {model.block_size}")
    flags = reference._training_flags(model)
    model.eval()
    try:
        with torch.no_grad():
            nll, count = 0.0, 0
            for s in range(0, n - 1 - block_size + 1, block_size):
                x, y = data[s : s + block_size], data[s + 1 : s + block_size + 1]
                nll += F.cross_entropy(model(x[None])[0].double(), y, reduction="sum").item()
                count += len(y)
            if count == 0:
                x, y = data[: n - 1], data[1:]
                nll += F.cross_entropy(model(x[None])[0].double(), y, reduction="sum").item()
                count += len(y)
            return math.exp(nll / count)

    finally:
        reference._restore_training_flags(flags)
