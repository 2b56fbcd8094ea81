"""Pitfall: head and backbone learning rates swapped (finetuning.trainable_param_groups)."""

from __future__ import annotations

from solutions import finetuning as reference
from solutions.finetuning import *  # noqa: F403


def trainable_param_groups(model, head_lr, backbone_lr, weight_decay=0.0):
    return reference.trainable_param_groups(model, backbone_lr, head_lr, weight_decay)
