"""Pitfall: leading dimensions flattened with flatten(0, -2) (lora.LoRALinear).

A single 1-D sample has no dimension -2: forward fails on it.
"""

from __future__ import annotations

import types

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


class LoRALinear(reference.LoRALinear):
    def forward(self, x):
        out = self.base(x)
        if self.merged:
            return out
        flat = self.dropout(x).flatten(0, -2)  # (N, in) for any leading shape... except none
        low = (flat @ self.lora_A.T @ self.lora_B.T).unflatten(0, x.shape[:-1])
        return out + low * self.scaling


# apply_lora as in the solution, but building this module's LoRALinear
_apply = reference.apply_lora
apply_lora = types.FunctionType(_apply.__code__, globals(), "apply_lora", _apply.__defaults__)
