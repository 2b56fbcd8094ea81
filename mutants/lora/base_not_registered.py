"""Pitfall: the base layer kept outside the module tree, as a plain attribute (lora.LoRALinear).

parameters(), state_dict() and .to() never see it.
"""

from __future__ import annotations

import types

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


class LoRALinear(reference.LoRALinear):
    def __init__(self, base, r=8, alpha=16.0, dropout=0.0):
        super().__init__(base, r, alpha, dropout)
        del self._modules["base"]
        object.__setattr__(self, "base", base)  # a plain attribute, not a registered submodule


# apply_lora as in the solution, but building this module's LoRALinear
apply_lora = types.FunctionType(reference.apply_lora.__code__, globals(), "apply_lora",
                                reference.apply_lora.__defaults__)
