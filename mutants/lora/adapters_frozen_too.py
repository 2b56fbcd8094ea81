"""Pitfall: apply_lora freezes every parameter after wrapping, the new adapters included (lora.apply_lora)."""

from __future__ import annotations

from torch import nn

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


def apply_lora(model, target_modules=("q_proj", "v_proj"), r=8, alpha=16.0, dropout=0.0):
    found = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if name in target_modules and isinstance(child, nn.Linear)
    ]
    if not found:
        raise ValueError(f"nothing matched target_modules={tuple(target_modules)}")
    for parent, name, child in found:
        setattr(parent, name, reference.LoRALinear(child, r=r, alpha=alpha, dropout=dropout))
    for p in model.parameters():
        p.requires_grad_(False)
    return model
