"""Pitfall: the mask adds a finite -1e4, which a large score outweighs (attention.scaled_dot_product_attention).

A masked key whose score is above 1e4 (plus the others') still wins the softmax; replacing the masked
scores (masked_fill) hides them whatever their value.
"""

from __future__ import annotations

import math

import torch

from solutions.attention import *  # noqa: F403


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + (~mask).to(scores.dtype) * -1e4
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ v, weights
