"""Pitfall: MC dropout's mean and std computed in float64 and returned so (inference.mc_dropout_predict).

A float32 or bfloat16 model gets float64 statistics back, not the output's dtype.
"""

from __future__ import annotations

import torch
from torch.nn.modules.dropout import _DropoutNd

from solutions import inference as reference
from solutions.inference import *  # noqa: F403


def mc_dropout_predict(model, x, n_samples=20):
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2, got {n_samples}")
    flags = reference._training_flags(model)
    model.eval()
    for module in model.modules():
        if isinstance(module, _DropoutNd):
            module.train()
    try:
        with torch.no_grad():
            samples = torch.stack([model(x) for _ in range(n_samples)]).double()  # "for precision"
    finally:
        reference._restore_training_flags(flags)
    return samples.mean(dim=0), samples.std(dim=0)
