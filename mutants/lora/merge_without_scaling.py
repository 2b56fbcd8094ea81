"""Pitfall: merge folds lora_B @ lora_A into the weight without the alpha / r scaling (lora.LoRALinear)."""

from __future__ import annotations

import types

import torch

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


class LoRALinear(reference.LoRALinear):
    @torch.no_grad()
    def merge(self):
        if self.merged:
            return
        self.base.weight += self.lora_B @ self.lora_A
        self.merged = True

    @torch.no_grad()
    def unmerge(self):
        if not self.merged:
            return
        self.base.weight -= self.lora_B @ self.lora_A
        self.merged = False


# apply_lora as in the solution, but building this module's LoRALinear
apply_lora = types.FunctionType(reference.apply_lora.__code__, globals(), "apply_lora",
                                reference.apply_lora.__defaults__)
