"""Pitfall: x nudged in place and "restored" by arithmetic, off by rounding (autograd.numerical_gradient)."""

from __future__ import annotations

import torch

from solutions.autograd import *  # noqa: F403


def numerical_gradient(f, x, eps=1e-6):
    grad = torch.zeros_like(x)
    flat = x.view(-1)
    for i in range(x.numel()):
        flat[i] += eps
        f_plus = float(f(x))
        flat[i] -= 2 * eps
        f_minus = float(f(x))
        flat[i] += eps  # back where it was? not bit for bit
        grad.view(-1)[i] = (f_plus - f_minus) / (2 * eps)
    return grad
