"""Pitfall: autograd computes the gradients instead of a hand-written backward pass (autograd.linear_backward).

The inputs are detached, grad mode is switched back on and torch.autograd.grad is asked for the answer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from solutions.autograd import *  # noqa: F403


def linear_backward(x, weight, bias, grad_out):
    leaves = [t.detach().requires_grad_(True) if t is not None else None for t in (x, weight, bias)]
    with torch.enable_grad():
        y = F.linear(*leaves)
        wanted = [t for t in leaves if t is not None]
        grads = torch.autograd.grad(y, wanted, grad_out)
    return grads[0], grads[1], grads[2] if bias is not None else None
