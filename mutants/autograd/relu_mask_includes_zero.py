"""Pitfall: the gradient passes at x == 0 (mask x >= 0), where PyTorch uses 0 (autograd.relu_backward)."""

from __future__ import annotations

from solutions.autograd import *  # noqa: F403


def relu_backward(x, grad_out):
    return grad_out * (x >= 0)
