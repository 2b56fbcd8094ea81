"""Pitfall: grad_bias is averaged over the batch instead of summed (autograd.linear_backward)."""

from __future__ import annotations

from solutions.autograd import *  # noqa: F403


def linear_backward(x, weight, bias, grad_out):
    x_2d = x.reshape(-1, x.shape[-1])
    grad_out_2d = grad_out.reshape(-1, grad_out.shape[-1])
    grad_bias = grad_out_2d.mean(0) if bias is not None else None
    return grad_out @ weight, grad_out_2d.T @ x_2d, grad_bias
