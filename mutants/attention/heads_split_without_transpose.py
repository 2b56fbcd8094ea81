"""Pitfall: heads split with a bare view(B, n_heads, T, d_head), no transpose (attention.MultiHeadSelfAttention)."""

from __future__ import annotations

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


class MultiHeadSelfAttention(reference.MultiHeadSelfAttention):
    def _split_heads(self, t):
        B, T, _ = t.shape
        return t.view(B, self.n_heads, T, self.d_head)
