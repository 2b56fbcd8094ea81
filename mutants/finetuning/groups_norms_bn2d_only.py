"""Pitfall: norm layers listed by hand as BatchNorm2d/LayerNorm/GroupNorm/InstanceNorm2d: a BatchNorm1d's weight
is decayed (finetuning.trainable_param_groups)."""

from __future__ import annotations

from torch import nn

from solutions import finetuning as _solution
from solutions.finetuning import *  # noqa: F403


def trainable_param_groups(model, head_lr, backbone_lr, weight_decay=0.0):
    saved = _solution.NORM_LAYERS
    _solution.NORM_LAYERS = (nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d)
    try:
        return _solution.trainable_param_groups(model, head_lr, backbone_lr, weight_decay)
    finally:
        _solution.NORM_LAYERS = saved
