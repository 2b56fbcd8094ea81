"""Pitfall: the mean of the per-batch mean NLLs (language_model.perplexity)."""

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
            x_all = [data[s : min(s + block_size, n - 1)] for s in range(0, n - 1, block_size)]
            means = []
            for i in range(0, len(x_all), batch_size):
                nll, count = 0.0, 0
                for j, x in enumerate(x_all[i : i + batch_size]):
                    s = (i + j) * block_size
                    y = data[s + 1 : s + 1 + len(x)]
                    nll += F.cross_entropy(model(x[None])[0].double(), y, reduction="sum").item()
                    count += len(y)
                means.append(nll / count)
            return math.exp(sum(means) / len(means))

    finally:
        reference._restore_training_flags(flags)
