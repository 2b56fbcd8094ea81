"""Pitfall: the LoRA path's dropout stays on in eval mode (lora.LoRALinear)."""

from __future__ import annotations

import types

import torch.nn.functional as F

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


class LoRALinear(reference.LoRALinear):
    def forward(self, x):
        out = self.base(x)
        if self.merged:
            return out
        dropped = F.dropout(x, self.dropout.p, training=True)
        return out + (dropped @ self.lora_A.T @ self.lora_B.T) * self.scaling


# apply_lora as in the solution, but building this module's LoRALinear
apply_lora = types.FunctionType(reference.apply_lora.__code__, globals(), "apply_lora",
                                reference.apply_lora.__defaults__)
