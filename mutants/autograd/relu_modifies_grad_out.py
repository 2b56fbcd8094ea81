"""Pitfall: grad_out is zeroed in place where x <= 0, changing the caller's tensor (autograd.relu_backward)."""

from __future__ import annotations

from solutions.autograd import *  # noqa: F403


def relu_backward(x, grad_out):
    return grad_out.masked_fill_(x <= 0, 0.0)
