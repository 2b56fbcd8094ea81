"""Pitfall: the model frozen before the match is checked (lora.apply_lora).

When nothing matched, the ValueError leaves the whole model frozen.
"""

from __future__ import annotations

from torch import nn

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


def apply_lora(model, target_modules=("q_proj", "v_proj"), r=8, alpha=16.0, dropout=0.0):
    targets = set(target_modules)
    for p in model.parameters():
        p.requires_grad_(False)
    found = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if name in targets and isinstance(child, nn.Linear)
    ]
    if not found:
        raise ValueError(f"no nn.Linear of the model is named any of target_modules={sorted(targets)}")
    for parent, name, child in found:
        setattr(parent, name, reference.LoRALinear(child, r=r, alpha=alpha, dropout=dropout))
    return model
