"""Pitfall: merge folds lora_B @ lora_A into the weight without the alpha / r scaling (lora.LoRALinear)."""

from __future__ import annotations

import types

import torch

import solutions.lora as _solution
from solutions.lora import *  # noqa: F403
from solutions.lora import LoRALinear as _LoRALinear


class LoRALinear(_LoRALinear):
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
_apply = _solution.apply_lora
apply_lora = types.FunctionType(_apply.__code__, globals(), "apply_lora", _apply.__defaults__)
