"""Pitfall: SiLU.backward multiplies grad_out in place (autograd.SiLU).

It changes a gradient the caller may still hold, and fails outright on the expanded grad_out that
silu(x).sum().backward() sends.
"""

from __future__ import annotations

import torch

from solutions import autograd as reference
from solutions.autograd import *  # noqa: F403


class SiLU(reference.SiLU):
    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad_out.mul_(s * (1 + x * (1 - s)))


def silu(x):
    return SiLU.apply(x)
