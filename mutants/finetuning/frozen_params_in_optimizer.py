"""Pitfall: frozen parameters handed to the optimizer (finetuning.trainable_param_groups)."""

from __future__ import annotations

from solutions import finetuning as reference
from solutions.finetuning import *  # noqa: F403


def trainable_param_groups(model, head_lr, backbone_lr, weight_decay=0.0):
    head = {id(p) for p in model.fc.parameters()}
    groups = {(h, d): [] for h in (True, False) for d in (True, False)}
    seen = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            decays = not ("bias" in name or isinstance(module, reference.NORM_LAYERS))
            groups[(id(p) in head, decays)].append(p)
    return [{"params": ps, "lr": head_lr if h else backbone_lr, "weight_decay": weight_decay if d else 0.0}
            for (h, d), ps in groups.items() if ps]
