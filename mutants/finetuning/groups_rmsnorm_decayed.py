"""Pitfall: nn.RMSNorm left out of the norm layers, so its weight is decayed (finetuning.trainable_param_groups)."""

from __future__ import annotations

from torch import nn

from solutions import finetuning as reference
from solutions.finetuning import *  # noqa: F403

NORM_LAYERS = tuple(kind for kind in reference.NORM_LAYERS if kind is not nn.RMSNorm)


def trainable_param_groups(model, head_lr, backbone_lr, weight_decay=0.0):
    fc = getattr(model, "fc", None)
    head = {id(p) for p in fc.parameters()} if fc is not None else set()
    groups = {(is_head, decays): [] for is_head in (True, False) for decays in (True, False)}
    seen = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            decays = not ("bias" in name or isinstance(module, NORM_LAYERS))
            groups[(id(p) in head, decays)].append(p)
    return [
        {"params": params, "lr": head_lr if is_head else backbone_lr, "weight_decay": weight_decay if decays else 0.0}
        for (is_head, decays), params in groups.items()
        if params
    ]
