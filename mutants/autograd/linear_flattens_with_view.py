"""Pitfall: leading dimensions flattened with .view(), which fails on a non-contiguous x (autograd.linear_backward)."""

from __future__ import annotations

from solutions.autograd import *  # noqa: F403


def linear_backward(x, weight, bias, grad_out):
    x_2d = x.view(-1, x.shape[-1])
    grad_out_2d = grad_out.view(-1, grad_out.shape[-1])
    grad_weight = grad_out_2d.T @ x_2d
    grad_bias = grad_out_2d.sum(dim=0) if bias is not None else None
    return grad_out @ weight, grad_weight, grad_bias
