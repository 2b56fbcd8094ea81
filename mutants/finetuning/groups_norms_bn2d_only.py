"""Pitfall: norm layers listed by hand, so a BatchNorm1d's weight is decayed (finetuning.trainable_param_groups).

The list: BatchNorm2d, LayerNorm, GroupNorm, InstanceNorm2d.
"""

from __future__ import annotations

from torch import nn

from solutions import finetuning as reference
from solutions.finetuning import *  # noqa: F403


def trainable_param_groups(model, head_lr, backbone_lr, weight_decay=0.0):
    saved = reference.NORM_LAYERS
    reference.NORM_LAYERS = (nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d)
    try:
        return reference.trainable_param_groups(model, head_lr, backbone_lr, weight_decay)
    finally:
        reference.NORM_LAYERS = saved
