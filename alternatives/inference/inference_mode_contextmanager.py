"""inference, a correct style: torch.inference_mode, one context manager that saves and restores every flag,
MC dropout statistics accumulated online (Welford), update_bn_stats wrapping torch's own update_bn."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import nn
from torch.optim.swa_utils import update_bn

_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


@contextlib.contextmanager
def _modes_kept(model: nn.Module) -> Iterator[None]:
    saved = [(m, m.training) for m in model.modules()]
    try:
        yield
    finally:
        for m, was in saved:
            m.training = was


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with _modes_kept(model), torch.inference_mode():
        model.eval()
        return model(x)


def mc_dropout_predict(model: nn.Module, x: torch.Tensor, n_samples: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    if n_samples < 2:
        raise ValueError(f"mc_dropout_predict needs n_samples >= 2, got n_samples={n_samples}")
    with _modes_kept(model), torch.inference_mode():
        model.eval()
        for m in model.modules():
            if isinstance(m, _DROPOUTS):
                m.train()
        mean = m2 = None
        for k in range(1, n_samples + 1):
            y = model(x)
            if mean is None:
                mean, m2 = y.clone(), torch.zeros_like(y)
                continue
            delta = y - mean
            mean = mean + delta / k
            m2 = m2 + delta * (y - mean)
        std = (m2 / (n_samples - 1)).sqrt()
    return mean.clone(), std.clone()  # out of inference mode: plain tensors are friendlier to callers


def update_bn_stats(model: nn.Module, loader: Iterable, device: str | torch.device = "cpu") -> None:
    momenta = [(m, m.momentum) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with _modes_kept(model), torch.no_grad():
        try:
            update_bn(loader, model, device=torch.device(device))
        finally:
            for m, momentum in momenta:
                m.momentum = momentum
