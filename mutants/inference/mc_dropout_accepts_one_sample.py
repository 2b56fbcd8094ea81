"""Pitfall: MC dropout accepts n_samples=1 and returns a NaN standard deviation (inference.mc_dropout_predict)."""

from __future__ import annotations

import torch
from torch.nn.modules.dropout import _DropoutNd

from solutions import inference as reference
from solutions.inference import *  # noqa: F403


def mc_dropout_predict(model, x, n_samples=20):
    flags = reference._training_flags(model)
    model.eval()
    for module in model.modules():
        if isinstance(module, _DropoutNd):
            module.train()
    try:
        with torch.no_grad():
            samples = torch.stack([model(x) for _ in range(n_samples)])
    finally:
        reference._restore_training_flags(flags)
    return samples.mean(dim=0), samples.std(dim=0)
