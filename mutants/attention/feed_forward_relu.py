"""Pitfall: ReLU instead of GELU in the feed-forward (attention.TransformerBlock)."""

from __future__ import annotations

from torch import nn

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


class TransformerBlock(reference.TransformerBlock):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0):
        super().__init__(d_model, n_heads, d_ff, dropout)
        self.ff[1] = nn.ReLU()
