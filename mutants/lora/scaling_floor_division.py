"""Pitfall: scaling computed as alpha // r, an integer division when alpha is an int (lora.LoRALinear)."""

from __future__ import annotations

import types

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


class LoRALinear(reference.LoRALinear):
    def __init__(self, base, r=8, alpha=16.0, dropout=0.0):
        super().__init__(base, r=r, alpha=alpha, dropout=dropout)
        self.scaling = alpha // r


# apply_lora as in the solution, but building this module's LoRALinear
_apply = reference.apply_lora
apply_lora = types.FunctionType(_apply.__code__, globals(), "apply_lora", _apply.__defaults__)
