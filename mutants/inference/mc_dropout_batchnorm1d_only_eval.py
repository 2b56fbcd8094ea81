"""Pitfall: the model in train mode and only BatchNorm1d back in eval (inference.mc_dropout_predict).

A BatchNorm2d then normalises with batch statistics.
"""

from __future__ import annotations

import torch
from torch import nn

from solutions import inference as reference
from solutions.inference import *  # noqa: F403


def mc_dropout_predict(model, x, n_samples=20):
    flags = reference._training_flags(model)
    model.train()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.eval()
    try:
        with torch.no_grad():
            samples = torch.stack([model(x) for _ in range(n_samples)])
    finally:
        reference._restore_training_flags(flags)
    return samples.mean(dim=0), samples.std(dim=0)
