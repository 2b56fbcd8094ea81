"""Pitfall: dropout applied to the LoRA term's output instead of to its input x (lora.LoRALinear)."""

from __future__ import annotations

import types

import solutions.lora as _solution
from solutions.lora import *  # noqa: F403
from solutions.lora import LoRALinear as _LoRALinear


class LoRALinear(_LoRALinear):
    def forward(self, x):
        out = self.base(x)
        if self.merged:
            return out
        return out + self.dropout((x @ self.lora_A.T @ self.lora_B.T) * self.scaling)


# apply_lora as in the solution, but building this module's LoRALinear
_apply = _solution.apply_lora
apply_lora = types.FunctionType(_apply.__code__, globals(), "apply_lora", _apply.__defaults__)
