"""Pitfall: merge and unmerge ignore `merged`, so merging twice adds the update twice (lora.LoRALinear)."""

from __future__ import annotations

import types

import torch

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


class LoRALinear(reference.LoRALinear):
    @torch.no_grad()
    def merge(self):
        self.base.weight += self.delta_weight()
        self.merged = True

    @torch.no_grad()
    def unmerge(self):
        self.base.weight -= self.delta_weight()
        self.merged = False


# apply_lora as in the solution, but building this module's LoRALinear
apply_lora = types.FunctionType(reference.apply_lora.__code__, globals(), "apply_lora",
                                reference.apply_lora.__defaults__)
