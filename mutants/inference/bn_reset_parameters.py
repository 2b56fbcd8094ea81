"""Pitfall: update_bn_stats resets each BatchNorm with reset_parameters(), wiping its learned weight
and bias along with the statistics (inference.update_bn_stats)."""

from __future__ import annotations

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from solutions.inference import *  # noqa: F403
from solutions.inference import _restore_training_flags, _training_flags


def update_bn_stats(model, loader, device="cpu"):
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    if not bns:
        return
    flags = _training_flags(model)
    momenta = {bn: bn.momentum for bn in bns}
    for bn in bns:
        bn.reset_parameters()  # running statistics, and weight=1, bias=0 too
        bn.momentum = None
    model.train()
    try:
        with torch.no_grad():
            for batch in loader:
                inputs = batch[0] if isinstance(batch, (list, tuple)) else batch
                model(inputs.to(device))
    finally:
        for bn, momentum in momenta.items():
            bn.momentum = momentum
        _restore_training_flags(flags)
