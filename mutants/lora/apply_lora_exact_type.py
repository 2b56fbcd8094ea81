"""Pitfall: targets matched with type(child) is nn.Linear (lora.apply_lora).

A target that subclasses nn.Linear is left unwrapped.
"""

from __future__ import annotations

from torch import nn

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


def apply_lora(model, target_modules=("q_proj", "v_proj"), r=8, alpha=16.0, dropout=0.0):
    targets = set(target_modules)
    found = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if name in targets and type(child) is nn.Linear
    ]
    if not found:
        raise ValueError(f"no nn.Linear of the model is named any of target_modules={sorted(targets)}")
    for p in model.parameters():
        p.requires_grad_(False)
    for parent, name, child in found:
        setattr(parent, name, reference.LoRALinear(child, r=r, alpha=alpha, dropout=dropout))
    return model
