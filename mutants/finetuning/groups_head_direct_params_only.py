"""Pitfall: head found as the module model.fc itself (finetuning.trainable_param_groups).

The parameters of layers nested inside a head that is a small network get the backbone's learning rate.
"""

from __future__ import annotations

from solutions import finetuning as reference
from solutions.finetuning import *  # noqa: F403


def trainable_param_groups(model, head_lr, backbone_lr, weight_decay=0.0):
    fc = getattr(model, "fc", None)
    groups = {(is_head, decays): [] for is_head in (True, False) for decays in (True, False)}
    seen = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            decays = not ("bias" in name or isinstance(module, reference.NORM_LAYERS))
            groups[(module is fc, decays)].append(p)
    return [
        {"params": params, "lr": head_lr if is_head else backbone_lr, "weight_decay": weight_decay if decays else 0.0}
        for (is_head, decays), params in groups.items()
        if params
    ]
