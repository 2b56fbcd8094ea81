"""Pitfall: only LoRALinear children replaced (lora.merge_lora).

A model that is itself a LoRALinear comes back unmerged and wrapped.
"""

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
