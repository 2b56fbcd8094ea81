"""Pitfall: no weight decay for every 1-D parameter (finetuning.trainable_param_groups).

p.ndim == 1 instead of biases and norm weights: a learned 1-D scale or a PReLU slope goes undecayed.
"""

from __future__ import annotations

from solutions import finetuning as reference
from solutions.finetuning import *  # noqa: F403


def trainable_param_groups(model, head_lr, backbone_lr, weight_decay=0.0):
    fc = getattr(model, "fc", None)
    head = {id(p) for p in fc.parameters()} if fc is not None else set()
    groups = {(is_head, decays): [] for is_head in (True, False) for decays in (True, False)}
    seen = set()
    for module in model.modules():
        for _name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            decays = p.ndim > 1
            groups[(id(p) in head, decays)].append(p)
    return [
        {"params": params, "lr": head_lr if is_head else backbone_lr, "weight_decay": weight_decay if decays else 0.0}
        for (is_head, decays), params in groups.items()
        if params
    ]
