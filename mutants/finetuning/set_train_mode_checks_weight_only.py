"""Pitfall: a BatchNorm counted as frozen when its weight is, its bias still training (finetuning.set_train_mode)."""

from __future__ import annotations

from torch import nn

from solutions.finetuning import *  # noqa: F403


def set_train_mode(model):
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.weight is not None:
            if not module.weight.requires_grad:
                module.eval()
    return model
