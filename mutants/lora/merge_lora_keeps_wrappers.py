"""Pitfall: merge_lora merges each layer but leaves the LoRALinear wrappers in the model (lora.merge_lora)."""

from __future__ import annotations

import torch

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


@torch.no_grad()
def merge_lora(model):
    for module in model.modules():
        if isinstance(module, reference.LoRALinear):
            module.merge()
    return model
