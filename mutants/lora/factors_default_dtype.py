"""Pitfall: lora_A / lora_B created in the default dtype instead of base.weight's (lora.LoRALinear)."""

from __future__ import annotations

import math
import types

import torch
from torch import nn

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


class LoRALinear(reference.LoRALinear):
    def __init__(self, base, r=8, alpha=16.0, dropout=0.0):
        super().__init__(base, r, alpha, dropout)
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, device=base.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x):
        out = self.base(x)
        if self.merged:
            return out
        lora = self.dropout(x).to(self.lora_A.dtype) @ self.lora_A.T @ self.lora_B.T
        return out + (lora * self.scaling).to(out.dtype)

    def delta_weight(self):
        return ((self.lora_B @ self.lora_A) * self.scaling).to(self.base.weight.dtype)


# apply_lora as in the solution, but building this module's LoRALinear
apply_lora = types.FunctionType(reference.apply_lora.__code__, globals(), "apply_lora",
                                reference.apply_lora.__defaults__)
