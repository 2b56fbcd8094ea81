"""Pitfall: MultiHeadSelfAttention drops the mask, so causality is broken (attention.MultiHeadSelfAttention)."""

from __future__ import annotations

from solutions.attention import *  # noqa: F403
from solutions.attention import MultiHeadSelfAttention as _Reference


class MultiHeadSelfAttention(_Reference):
    def forward(self, x, mask=None):
        return super().forward(x)
