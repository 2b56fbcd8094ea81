"""Pitfall: merge_lora only replaces LoRALinear children, so a model that is itself a LoRALinear comes back
unmerged and wrapped (lora.merge_lora)."""

from __future__ import annotations

import torch

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
        child.merge()
        setattr(parent, name, child.base)
    return model
