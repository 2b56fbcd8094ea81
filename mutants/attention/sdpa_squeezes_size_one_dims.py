"""Pitfall: the scores are squeeze()d, losing a dimension of size 1 (attention.scaled_dot_product_attention).

With one query (a decoding step), one key or a batch of one, the shapes come out wrong.
"""

from __future__ import annotations

import math

import torch

from solutions.attention import *  # noqa: F403


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = (q @ k.transpose(-2, -1)).squeeze() / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ v, weights
