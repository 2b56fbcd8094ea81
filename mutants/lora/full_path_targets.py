"""Pitfall: targets compared with the full path, so nested layers (blocks.0.q_proj) are missed (lora.apply_lora)."""

from __future__ import annotations

from torch import nn

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


def apply_lora(model, target_modules=("q_proj", "v_proj"), r=8, alpha=16.0, dropout=0.0):
    found = [
        (path, child)
        for path, child in model.named_modules()
        if isinstance(child, nn.Linear) and path in target_modules
    ]
    if not found:
        raise ValueError(f"nothing matched target_modules={tuple(target_modules)}")
    for p in model.parameters():
        p.requires_grad_(False)
    for path, child in found:
        setattr(model, path, reference.LoRALinear(child, r=r, alpha=alpha, dropout=dropout))
    return model
