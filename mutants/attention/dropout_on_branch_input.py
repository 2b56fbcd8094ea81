"""Pitfall: dropout applied to each branch's input instead of its output (attention.TransformerBlock).

x = x + attn(dropout(norm1(x))): eval mode hides it, and train mode is still random.
"""

from __future__ import annotations

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


class TransformerBlock(reference.TransformerBlock):
    def forward(self, x, mask=None):
        x = x + self.attn(self.dropout(self.norm1(x)), mask)
        return x + self.ff(self.dropout(self.norm2(x)))
