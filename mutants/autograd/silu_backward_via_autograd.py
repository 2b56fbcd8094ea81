"""Pitfall: SiLU.backward rebuilds x * sigmoid(x) with grad on and asks torch.autograd.grad (autograd.SiLU).

The engine runs nested backward passes happily, so gradcheck and every value agree.
"""

from __future__ import annotations

import torch

from solutions import autograd as reference
from solutions.autograd import *  # noqa: F403


class SiLU(reference.SiLU):
    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            leaf = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(leaf * torch.sigmoid(leaf), leaf, grad_out)
        return grad


def silu(x):
    return SiLU.apply(x)
