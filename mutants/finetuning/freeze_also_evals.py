"""Pitfall: freeze also switches the module to eval mode (finetuning.freeze).

Dropout and BatchNorm change behaviour as a side effect of freezing.
"""

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
