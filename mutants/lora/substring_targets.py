"""Pitfall: targets matched by substring of the full module path (lora.apply_lora)."""

from __future__ import annotations

from torch import nn

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


def apply_lora(model, target_modules=("q_proj", "v_proj"), r=8, alpha=16.0, dropout=0.0):
    found = [
        (path, child)
        for path, child in model.named_modules()
        if isinstance(child, nn.Linear) and any(t in path for t in target_modules)
    ]
    if not found:
        raise ValueError(f"nothing matched target_modules={tuple(target_modules)}")
    for p in model.parameters():
        p.requires_grad_(False)
    for path, child in found:
        parent_path, _, name = path.rpartition(".")
        parent = model.get_submodule(parent_path)
        setattr(parent, name, reference.LoRALinear(child, r=r, alpha=alpha, dropout=dropout))
    return model
