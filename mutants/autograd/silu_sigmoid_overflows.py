"""Pitfall: sigmoid written as exp(x) / (1 + exp(x)), NaN for large x (autograd.SiLU)."""

from __future__ import annotations

import torch

from solutions.autograd import *  # noqa: F403


def _sigmoid(x):
    return x.exp() / (1 + x.exp())


class SiLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * _sigmoid(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        s = _sigmoid(x)
        return grad_out * (s + x * s * (1 - s))


def silu(x):
    return SiLU.apply(x)
