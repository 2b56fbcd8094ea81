"""Pitfall: only biases spared from weight decay; norm layers' weights decayed (finetuning.trainable_param_groups)."""

from __future__ import annotations

from solutions.finetuning import *  # noqa: F403


def trainable_param_groups(model, head_lr, backbone_lr, weight_decay=0.0):
    head = {id(p) for p in model.fc.parameters()}
    groups = {(h, d): [] for h in (True, False) for d in (True, False)}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups[(id(p) in head, not name.endswith("bias"))].append(p)
    return [{"params": ps, "lr": head_lr if h else backbone_lr, "weight_decay": weight_decay if d else 0.0}
            for (h, d), ps in groups.items() if ps]
