"""Pitfall: each head's scores scaled by sqrt(d_model) instead of sqrt(d_head) (attention.MultiHeadSelfAttention)."""

from __future__ import annotations

import math

import torch

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


class MultiHeadSelfAttention(reference.MultiHeadSelfAttention):
    def forward(self, x, mask=None):
        B, T, _ = x.shape
        q, k, v = (self._split_heads(p(x)) for p in (self.q_proj, self.k_proj, self.v_proj))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_model)
        if mask is not None:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        if mask is not None:
            weights = weights.masked_fill(~mask, 0.0)
        return self.out_proj((weights @ v).transpose(1, 2).reshape(B, T, self.d_model))
