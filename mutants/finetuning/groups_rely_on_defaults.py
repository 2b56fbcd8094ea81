"""Pitfall: groups without their own lr/weight_decay fall back on the defaults (finetuning.trainable_param_groups)."""

from __future__ import annotations

from solutions import finetuning as reference
from solutions.finetuning import *  # noqa: F403


def trainable_param_groups(model, head_lr, backbone_lr, weight_decay=0.0):
    groups = reference.trainable_param_groups(model, head_lr, backbone_lr, weight_decay)
    for g in groups:  # "the optimizer's lr and weight_decay are the backbone's anyway"
        if g["lr"] == backbone_lr:
            del g["lr"]
        if g["weight_decay"] == weight_decay:
            del g["weight_decay"]
    return groups
