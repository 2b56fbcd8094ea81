"""Pitfall: q is divided by sqrt(d) in place, changing the caller's queries (attention.scaled_dot_product_attention).

Where q requires grad, autograd would refuse the in-place division, so there it divides out of place.
"""

from __future__ import annotations

import math

import torch

from solutions.attention import *  # noqa: F403


def scaled_dot_product_attention(q, k, v, mask=None):
    scale = math.sqrt(q.shape[-1])
    q = q / scale if q.requires_grad else q.div_(scale)
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ v, weights
