"""Pitfall: LoRALinear checks type(base) is nn.Linear, refusing subclasses of nn.Linear (lora.LoRALinear)."""

from __future__ import annotations

import types

from torch import nn

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


class LoRALinear(reference.LoRALinear):
    def __init__(self, base, r=8, alpha=16.0, dropout=0.0):
        if type(base) is not nn.Linear:
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        super().__init__(base, r=r, alpha=alpha, dropout=dropout)


# apply_lora as in the solution, but building this module's LoRALinear
_apply = reference.apply_lora
apply_lora = types.FunctionType(_apply.__code__, globals(), "apply_lora", _apply.__defaults__)
