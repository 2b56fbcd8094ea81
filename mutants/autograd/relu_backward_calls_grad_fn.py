"""Pitfall: relu_backward records a graph and calls its grad_fn node directly (autograd.relu_backward).

No .backward() and no torch.autograd.grad: the node's own backward formula does the work, so only
the graph it recorded gives it away.
"""

from __future__ import annotations

import torch

from solutions.autograd import *  # noqa: F403


def relu_backward(x, grad_out):
    with torch.enable_grad():
        y = torch.relu(x.detach().requires_grad_(True))
        grad = y.grad_fn(grad_out)
    return grad.detach()
