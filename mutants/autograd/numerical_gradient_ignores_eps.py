"""Pitfall: the eps argument is ignored in favour of a fixed step (autograd.numerical_gradient)."""

from __future__ import annotations

import torch

from solutions.autograd import *  # noqa: F403


def numerical_gradient(f, x, eps=1e-6):
    step = 1e-6
    base = x.detach().clone().contiguous()
    grad = torch.zeros_like(base)
    for i in range(base.numel()):
        plus, minus = base.clone(), base.clone()
        plus.view(-1)[i] += step
        minus.view(-1)[i] -= step
        grad.view(-1)[i] = (float(f(plus)) - float(f(minus))) / (2 * step)
    return grad
