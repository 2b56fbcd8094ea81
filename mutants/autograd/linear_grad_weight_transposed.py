"""Pitfall: grad_weight comes back as (in, out), the transpose of weight's layout (autograd.linear_backward)."""

from __future__ import annotations

from solutions.autograd import *  # noqa: F403


def linear_backward(x, weight, bias, grad_out):
    x_2d = x.reshape(-1, x.shape[-1])
    grad_out_2d = grad_out.reshape(-1, grad_out.shape[-1])
    grad_weight = x_2d.T @ grad_out_2d  # (in, out): transposed
    grad_bias = grad_out_2d.sum(0) if bias is not None else None
    return grad_out @ weight, grad_weight, grad_bias
