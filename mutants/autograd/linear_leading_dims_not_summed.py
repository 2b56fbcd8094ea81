"""Pitfall: written for 2-D x only; extra leading batch dimensions are not summed (autograd.linear_backward)."""

from __future__ import annotations

from solutions.autograd import *  # noqa: F403


def linear_backward(x, weight, bias, grad_out):
    grad_weight = grad_out.transpose(-2, -1) @ x  # (B, out, in) for 3-D x: one matrix per leading index
    grad_bias = grad_out.sum(0) if bias is not None else None  # sums the first dimension only
    return grad_out @ weight, grad_weight, grad_bias
