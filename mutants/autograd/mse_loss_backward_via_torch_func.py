"""Pitfall: torch.func.grad (imported under its own name) differentiates the loss (autograd.mse_loss_backward)."""

from __future__ import annotations

import torch.nn.functional as F
from torch.func import grad

from solutions.autograd import *  # noqa: F403


def mse_loss_backward(pred, target):
    return grad(lambda p: F.mse_loss(p, target))(pred)
