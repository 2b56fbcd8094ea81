"""inference, a correct style: contextlib.ExitStack callbacks for every restore, no_grad as a decorator, the
sample standard deviation written out, and the BatchNorm pass done by hand."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd


def _flag_restorer(model: nn.Module):
    """A callback that gives every submodule its own training flag back, as it is now."""
    flags = {id(m): m.training for m in model.modules()}

    def restore() -> None:
        for m in model.modules():
            object.__setattr__(m, "training", flags[id(m)])

    return restore


@torch.no_grad()
def _forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return model(x)


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with contextlib.ExitStack() as stack:
        stack.callback(_flag_restorer(model))
        for m in model.modules():
            m.training = False
        return _forward(model, x)


def mc_dropout_predict(model: nn.Module, x: torch.Tensor, n_samples: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    if not n_samples >= 2:
        raise ValueError(f"n_samples={n_samples}: a sample standard deviation needs at least 2 passes")
    with contextlib.ExitStack() as stack:
        stack.callback(_flag_restorer(model))
        for m in model.modules():
            m.training = isinstance(m, _DropoutNd)
        outs = [_forward(model, x) for _ in range(n_samples)]
    total = outs[0].clone()
    for y in outs[1:]:
        total += y
    mean = total / n_samples
    sq = torch.zeros_like(mean)
    for y in outs:
        sq += (y - mean) ** 2
    return mean, torch.sqrt(sq / (n_samples - 1))


def update_bn_stats(model: nn.Module, loader: Iterable, device: str | torch.device = "cpu") -> None:
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    with contextlib.ExitStack() as stack:
        stack.callback(_flag_restorer(model))
        for bn in norms:
            stack.callback(setattr, bn, "momentum", bn.momentum)
        if not norms:
            return
        for bn in norms:
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0)
            bn.num_batches_tracked.zero_()
            bn.momentum = None
        model.train()
        for batch in loader:
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            _forward(model, x.to(device))
