"""Pitfall: masked scores filled with -1e9, which float16 cannot hold (attention.scaled_dot_product_attention).

Finite in float32 and float64, so every test there passes; masked_fill raises in float16.
"""

from __future__ import annotations

import math

import torch

from solutions.attention import *  # noqa: F403


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, -1e9)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ v, weights
