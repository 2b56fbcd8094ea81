"""Pitfall: freeze also calls module.eval(), switching Dropout and BatchNorm off as a side effect
(finetuning.freeze)."""

from __future__ import annotations

from solutions import finetuning as reference
from solutions.finetuning import *  # noqa: F403


def freeze(module):
    for p in module.parameters():
        p.requires_grad_(False)
    module.eval()  # "frozen" also means "not training", or so it seems
    return module


def prepare_linear_probe(model, num_classes):
    freeze(model)
    return reference.replace_head(model, num_classes)
