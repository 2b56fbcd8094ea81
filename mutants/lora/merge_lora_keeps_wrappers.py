"""Pitfall: merge_lora merges each layer but leaves the LoRALinear wrappers in the model (lora.merge_lora)."""

from __future__ import annotations

import torch

from solutions.lora import *  # noqa: F403
from solutions.lora import LoRALinear


@torch.no_grad()
def merge_lora(model):
    for module in model.modules():
        if isinstance(module, LoRALinear):
            module.merge()
    return model
