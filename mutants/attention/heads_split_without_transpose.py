"""Pitfall: heads split with a bare view(B, n_heads, T, d_head), no transpose (attention.MultiHeadSelfAttention)."""

from __future__ import annotations

from solutions.attention import *  # noqa: F403
from solutions.attention import MultiHeadSelfAttention as _Reference


class MultiHeadSelfAttention(_Reference):
    def _split_heads(self, t):
        B, T, _ = t.shape
        return t.view(B, self.n_heads, T, self.d_head)
