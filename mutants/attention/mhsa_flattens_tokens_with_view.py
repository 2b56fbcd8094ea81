"""Pitfall: x flattened with .view(), failing on a transposed x (attention.MultiHeadSelfAttention)."""

from __future__ import annotations

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


class MultiHeadSelfAttention(reference.MultiHeadSelfAttention):
    def forward(self, x, mask=None):
        B, T, D = x.shape
        return super().forward(x.view(B * T, D).view(B, T, D), mask)


class TransformerBlock(reference.TransformerBlock):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0):
        super().__init__(d_model, n_heads, d_ff, dropout)
        self.attn = MultiHeadSelfAttention(d_model, n_heads)
