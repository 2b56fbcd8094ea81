"""Pitfall: the new head is a plain nn.Linear, float32 on the CPU, whatever the old head's dtype and device
(finetuning.replace_head)."""

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
