"""Pitfall: first residual added in place (x += ...), into the caller's x (attention.TransformerBlock)."""

from __future__ import annotations

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


class TransformerBlock(reference.TransformerBlock):
    def forward(self, x, mask=None):
        if not x.requires_grad:  # autograd refuses x += ... on a leaf that requires grad
            x += self.dropout(self.attn(self.norm1(x), mask))
        else:
            x = x + self.dropout(self.attn(self.norm1(x), mask))
        return x + self.dropout(self.ff(self.norm2(x)))
