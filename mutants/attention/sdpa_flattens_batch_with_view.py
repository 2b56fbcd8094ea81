"""Pitfall: leading dimensions flattened with .view() for torch.bmm (attention.scaled_dot_product_attention).

view() fails on the transposed q, k, v that multi-head attention hands over.
"""

from __future__ import annotations

import math

import torch

from solutions.attention import *  # noqa: F403


def scaled_dot_product_attention(q, k, v, mask=None):
    lead, (tq, d), (tk, dv) = q.shape[:-2], q.shape[-2:], v.shape[-2:]
    scores = torch.bmm(q.view(-1, tq, d), k.view(-1, tk, d).transpose(1, 2)).view(*lead, tq, tk) / math.sqrt(d)
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)
    out = torch.bmm(weights.reshape(-1, tq, tk), v.view(-1, tk, dv)).view(*lead, tq, dv)
    return out, weights
