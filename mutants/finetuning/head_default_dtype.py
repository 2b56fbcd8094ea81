"""Pitfall: the new head ignores the old head's dtype and device (finetuning.replace_head).

A plain nn.Linear is float32 on the CPU: a float64 (or CUDA) model cannot run its new head.
"""

from __future__ import annotations

from torch import nn

from solutions import finetuning as reference
from solutions.finetuning import *  # noqa: F403


def replace_head(model, num_classes):
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def prepare_linear_probe(model, num_classes):
    reference.freeze(model)
    return replace_head(model, num_classes)
