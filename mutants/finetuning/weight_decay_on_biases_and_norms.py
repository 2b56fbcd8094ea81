"""Pitfall: weight decay on biases and norm weights too (finetuning.trainable_param_groups)."""

from __future__ import annotations

from solutions.finetuning import *  # noqa: F403


def trainable_param_groups(model, head_lr, backbone_lr, weight_decay=0.0):
    head = [p for p in model.fc.parameters() if p.requires_grad]
    ids = {id(p) for p in head}
    backbone = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    groups = [{"params": head, "lr": head_lr, "weight_decay": weight_decay},
              {"params": backbone, "lr": backbone_lr, "weight_decay": weight_decay}]
    return [g for g in groups if g["params"]]
