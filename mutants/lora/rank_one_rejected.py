"""Pitfall: the rank check off by one, r=1 rejected though it is a valid rank (lora.LoRALinear)."""

from __future__ import annotations

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


class LoRALinear(reference.LoRALinear):
    def __init__(self, base, r=8, alpha=16.0, dropout=0.0):
        if r <= 1:
            raise ValueError(f"the rank r must be >= 1, got r={r}")
        super().__init__(base, r, alpha, dropout)
