"""Pitfall: a 3-D mask is read as (B, T, T) and unsqueezed at dim 1 (attention.MultiHeadSelfAttention).

Broadcast to (B, n_heads, T, T) from the right, a 3-D mask is (n_heads, T, T).
"""

from __future__ import annotations

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


class MultiHeadSelfAttention(reference.MultiHeadSelfAttention):
    def forward(self, x, mask=None):
        if mask is not None and mask.dim() == 3:
            mask = mask.unsqueeze(1)  # (B, 1, T, T)
        return super().forward(x, mask)


class TransformerBlock(reference.TransformerBlock):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0):
        super().__init__(d_model, n_heads, d_ff, dropout)
        self.attn = MultiHeadSelfAttention(d_model, n_heads)
