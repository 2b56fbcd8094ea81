"""Pitfall: x.clone().view(-1) perturbed, failing for a transposed x (autograd.numerical_gradient).

clone() keeps a non-contiguous layout, and view(-1) needs a contiguous one.
"""

from __future__ import annotations

import torch

from solutions.autograd import *  # noqa: F403


def numerical_gradient(f, x, eps=1e-6):
    grad = torch.zeros_like(x)
    for i in range(x.numel()):
        plus, minus = x.detach().clone(), x.detach().clone()
        plus.view(-1)[i] += eps
        minus.view(-1)[i] -= eps
        grad.view(-1)[i] = (float(f(plus)) - float(f(minus))) / (2 * eps)
    return grad
