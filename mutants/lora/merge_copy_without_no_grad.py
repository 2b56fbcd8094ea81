"""Pitfall: merge and unmerge write base.weight outside no_grad (lora.LoRALinear).

copy_ with the trainable factors records a graph: the frozen weight then requires grad.
"""

from __future__ import annotations

import types

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


class LoRALinear(reference.LoRALinear):
    def merge(self):
        if self.merged:
            return
        self.base.weight.copy_(self.base.weight + self.delta_weight())
        self.merged = True

    def unmerge(self):
        if not self.merged:
            return
        self.base.weight.copy_(self.base.weight - self.delta_weight())
        self.merged = False


# apply_lora as in the solution, but building this module's LoRALinear
_apply = reference.apply_lora
apply_lora = types.FunctionType(_apply.__code__, globals(), "apply_lora", _apply.__defaults__)
