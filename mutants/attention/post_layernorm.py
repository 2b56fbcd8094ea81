"""Pitfall: post-LN, x = norm(x + sublayer(x)), instead of pre-LN (attention.TransformerBlock)."""

from __future__ import annotations

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


class TransformerBlock(reference.TransformerBlock):
    def forward(self, x, mask=None):
        x = self.norm1(x + self.dropout(self.attn(x, mask)))
        return self.norm2(x + self.dropout(self.ff(x)))
