"""Pitfall: a BatchNorm without parameters (affine=False) counted as frozen (finetuning.set_train_mode).

`all(...)` over no parameters is True, so it goes to eval mode and its running statistics stop learning, even in a
model trained from scratch.
"""

from __future__ import annotations

from torch import nn

from solutions.finetuning import *  # noqa: F403


def set_train_mode(model):
    model.train()
    for module in model.modules():
        frozen = all(not p.requires_grad for p in module.parameters())
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and frozen:
            module.eval()
    return model
