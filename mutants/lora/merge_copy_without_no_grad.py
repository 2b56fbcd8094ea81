"""Pitfall: merge and unmerge write base.weight with copy_ outside torch.no_grad(), so the frozen weight records a
graph and requires grad (lora.LoRALinear)."""

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
