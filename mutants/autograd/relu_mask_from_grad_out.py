"""Pitfall: the ReLU mask is taken from the sign of grad_out instead of the input x (autograd.relu_backward)."""

from __future__ import annotations

from solutions.autograd import *  # noqa: F403


def relu_backward(x, grad_out):
    return grad_out * (grad_out > 0)
