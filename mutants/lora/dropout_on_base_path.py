"""Pitfall: dropout applied to the input of both paths, base included (lora.LoRALinear)."""

from __future__ import annotations

import types

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


class LoRALinear(reference.LoRALinear):
    def forward(self, x):
        if self.merged:
            return self.base(x)
        x = self.dropout(x)
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling


# apply_lora as in the solution, but building this module's LoRALinear
apply_lora = types.FunctionType(reference.apply_lora.__code__, globals(), "apply_lora",
                                reference.apply_lora.__defaults__)
