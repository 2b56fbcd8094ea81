"""Pitfall: the mean of window means instead of the mean over tokens (language_model.perplexity).

The mean of the per-window mean NLLs: a short last window weighs as much as a full one."""

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
            means = []
            for s in range(0, n - 1, block_size):
                x = data[s : min(s + block_size, n - 1)]
                y = data[s + 1 : s + 1 + len(x)]
                means.append(F.cross_entropy(model(x[None])[0].double(), y).item())
            return math.exp(sum(means) / len(means))

    finally:
        reference._restore_training_flags(flags)
