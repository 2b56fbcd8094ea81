"""Pitfall: MC dropout puts the model in train mode and only BatchNorm1d back in eval, so a
BatchNorm2d normalises with batch statistics (inference.mc_dropout_predict)."""

from __future__ import annotations

import torch
from torch import nn

from solutions.inference import *  # noqa: F403
from solutions.inference import _restore_training_flags, _training_flags


def mc_dropout_predict(model, x, n_samples=20):
    flags = _training_flags(model)
    model.train()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.eval()
    try:
        with torch.no_grad():
            samples = torch.stack([model(x) for _ in range(n_samples)])
    finally:
        _restore_training_flags(flags)
    return samples.mean(dim=0), samples.std(dim=0)
