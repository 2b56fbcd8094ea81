"""Pitfall: relu_backward asks autograd through .backward() instead of masking by hand (autograd.relu_backward)."""

from __future__ import annotations

import torch

from solutions.autograd import *  # noqa: F403


def relu_backward(x, grad_out):
    leaf = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        torch.relu(leaf).backward(grad_out)
    return leaf.grad
