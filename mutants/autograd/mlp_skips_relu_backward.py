"""Pitfall: the hidden gradient goes straight through the ReLU, without its mask (autograd.mlp_backward)."""

from __future__ import annotations

from solutions import autograd as reference
from solutions.autograd import *  # noqa: F403


def mlp_backward(x, targets, w1, b1, w2, b2):
    h = (x @ w1.T + b1).clamp(min=0)
    grad_logits = reference.cross_entropy_backward(h @ w2.T + b2, targets)
    grad_h, grad_w2, grad_b2 = reference.linear_backward(h, w2, b2, grad_logits)
    _, grad_w1, grad_b1 = reference.linear_backward(x, w1, b1, grad_h)  # relu_backward forgotten
    return {"w1": grad_w1, "b1": grad_b1, "w2": grad_w2, "b2": grad_b2}
