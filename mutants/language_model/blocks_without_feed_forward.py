"""Pitfall: attention-only blocks, no feed-forward network after the attention (language_model.TinyGPT)."""

from __future__ import annotations

from torch import nn

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


class _AttentionOnly(nn.Module):
    def __init__(self, d_model, n_heads, dropout):
        super().__init__()
        self.ln = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)

    def forward(self, x, src_mask=None):
        h = self.ln(x)
        return x + self.attn(h, h, h, attn_mask=src_mask, need_weights=False)[0]


class TinyGPT(reference.TinyGPT):
    def __init__(self, vocab_size, block_size, d_model=64, n_heads=4, n_layers=2, dropout=0.0):
        super().__init__(vocab_size, block_size, d_model, n_heads, n_layers, dropout)
        self.blocks = nn.ModuleList(_AttentionOnly(d_model, n_heads, dropout) for _ in range(n_layers))
