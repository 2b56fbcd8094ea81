"""Pitfall: MC dropout puts every module in train mode, BatchNorm included (inference.mc_dropout_predict).

BatchNorm then normalises with each batch's statistics and overwrites its running ones."""

from __future__ import annotations

import torch

from solutions import inference as reference
from solutions.inference import *  # noqa: F403


def mc_dropout_predict(model, x, n_samples=20):
    flags = reference._training_flags(model)
    model.train()
    try:
        with torch.no_grad():
            samples = torch.stack([model(x) for _ in range(n_samples)])
    finally:
        reference._restore_training_flags(flags)
    return samples.mean(dim=0), samples.std(dim=0)
