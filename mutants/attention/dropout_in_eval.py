"""Pitfall: dropout stays on in eval mode, F.dropout(..., training=True) (attention.TransformerBlock)."""

from __future__ import annotations

import torch.nn.functional as F

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


class TransformerBlock(reference.TransformerBlock):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0):
        super().__init__(d_model, n_heads, d_ff, dropout)
        self.p = dropout

    def forward(self, x, mask=None):
        x = x + F.dropout(self.attn(self.norm1(x), mask), self.p, training=True)
        return x + F.dropout(self.ff(self.norm2(x)), self.p, training=True)
