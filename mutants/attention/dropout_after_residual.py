"""Pitfall: dropout applied to the residual sum instead of the branch output (attention.TransformerBlock).

x = dropout(x + attn(norm1(x))) also zeroes parts of the residual stream; eval mode hides it.
"""

from __future__ import annotations

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


class TransformerBlock(reference.TransformerBlock):
    def forward(self, x, mask=None):
        x = self.dropout(x + self.attn(self.norm1(x), mask))
        return self.dropout(x + self.ff(self.norm2(x)))
