"""Pitfall: the residual adds norm1(x) instead of the raw x (attention.TransformerBlock)."""

from __future__ import annotations

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


class TransformerBlock(reference.TransformerBlock):
    def forward(self, x, mask=None):
        h = self.norm1(x)
        x = h + self.dropout(self.attn(h, mask))
        h = self.norm2(x)
        return h + self.dropout(self.ff(h))
