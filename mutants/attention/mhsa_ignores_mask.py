"""Pitfall: MultiHeadSelfAttention drops the mask, so causality is broken (attention.MultiHeadSelfAttention)."""

from __future__ import annotations

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


class MultiHeadSelfAttention(reference.MultiHeadSelfAttention):
    def forward(self, x, mask=None):
        return super().forward(x)
