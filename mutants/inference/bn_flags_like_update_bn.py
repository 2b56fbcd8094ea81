"""Pitfall: only the top-level training flag is restored, as update_bn does (inference.update_bn_stats)."""

from __future__ import annotations

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from solutions.inference import *  # noqa: F403


def update_bn_stats(model, loader, device="cpu"):
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    if not bns:
        return
    was_training = model.training
    momenta = {bn: bn.momentum for bn in bns}
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with torch.no_grad():
        for batch in loader:
            inputs = batch[0] if isinstance(batch, (list, tuple)) else batch
            model(inputs.to(device))
    for bn, momentum in momenta.items():
        bn.momentum = momentum
    model.train(was_training)
