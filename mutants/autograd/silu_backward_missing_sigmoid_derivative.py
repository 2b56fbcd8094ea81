"""Pitfall: SiLU.backward returns grad_out * sigmoid(x), missing the x * sigmoid'(x) term (autograd.SiLU)."""

from __future__ import annotations

import torch

from solutions.autograd import *  # noqa: F403


class SiLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * torch.sigmoid(x)


def silu(x):
    return SiLU.apply(x)
