"""Pitfall: relu_backward multiplies grad_out by a 0/1 mask: NaN or inf at x <= 0 gives NaN (autograd.relu_backward)."""

from __future__ import annotations

from solutions.autograd import *  # noqa: F403


def relu_backward(x, grad_out):
    return grad_out * (x > 0)  # nan * 0 and inf * 0 are NaN, where PyTorch gives 0
