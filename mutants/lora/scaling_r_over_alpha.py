"""Pitfall: the update is scaled by r / alpha instead of alpha / r (lora.LoRALinear)."""

from __future__ import annotations

import types

import solutions.lora as _solution
from solutions.lora import *  # noqa: F403
from solutions.lora import LoRALinear as _LoRALinear


class LoRALinear(_LoRALinear):
    def __init__(self, base, r=8, alpha=16.0, dropout=0.0):
        super().__init__(base, r, alpha, dropout)
        self.scaling = r / alpha


# apply_lora as in the solution, but building this module's LoRALinear
_apply = _solution.apply_lora
apply_lora = types.FunctionType(_apply.__code__, globals(), "apply_lora", _apply.__defaults__)
