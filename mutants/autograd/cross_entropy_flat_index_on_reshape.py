"""Pitfall: one-hot subtracted through a reshape(-1) copy (autograd.cross_entropy_backward).

For a transposed logits tensor the stable softmax keeps its layout, reshape(-1) copies it, and the
in-place subtraction lands in the copy: the gradient comes back without the - 1 at the targets.
"""

from __future__ import annotations

import torch

from solutions.autograd import *  # noqa: F403


def cross_entropy_backward(logits, targets):
    n, c = logits.shape
    exp = (logits - logits.amax(dim=1, keepdim=True)).exp()
    grad = exp / exp.sum(dim=1, keepdim=True)
    grad.reshape(-1)[torch.arange(n, device=logits.device) * c + targets] -= 1.0
    return grad / n
