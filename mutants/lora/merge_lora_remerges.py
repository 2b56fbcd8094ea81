"""Pitfall: merge_lora adds the update even to layers already merged (lora.merge_lora)."""

from __future__ import annotations

import torch
from torch import nn

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


@torch.no_grad()
def merge_lora(model):
    found = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, reference.LoRALinear)
    ]
    for parent, name, child in found:
        base = child.base
        merged = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None,
                           dtype=base.weight.dtype, device=base.weight.device)
        merged.weight.copy_(base.weight + child.delta_weight())
        if base.bias is not None:
            merged.bias.copy_(base.bias)
        setattr(parent, name, merged)
    return model
