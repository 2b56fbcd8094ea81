"""Pitfall: forward differences (f(x + eps) - f(x)) / eps, an O(eps) error (autograd.numerical_gradient)."""

from __future__ import annotations

import torch

from solutions.autograd import *  # noqa: F403


def numerical_gradient(f, x, eps=1e-6):
    base = x.detach().clone().contiguous()
    grad = torch.zeros_like(base)
    f0 = float(f(base))
    for i in range(base.numel()):
        plus = base.clone()
        plus.view(-1)[i] += eps
        grad.view(-1)[i] = (float(f(plus)) - f0) / eps
    return grad
