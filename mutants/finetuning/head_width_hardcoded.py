"""Pitfall: the new head's input width hard-coded to resnet18's 512 (finetuning.replace_head)."""

from __future__ import annotations

from torch import nn

from solutions.finetuning import *  # noqa: F403


def replace_head(model, num_classes):
    model.fc = nn.Linear(512, num_classes)
    return model
