"""Pitfall: the hidden gradient is masked with z1 >= 0, passing it at exactly 0 (autograd.mlp_backward)."""

from __future__ import annotations

from solutions import autograd as reference
from solutions.autograd import *  # noqa: F403


def mlp_backward(x, targets, w1, b1, w2, b2):
    z1 = x @ w1.T + b1
    h = z1.clamp(min=0)
    grad_logits = reference.cross_entropy_backward(h @ w2.T + b2, targets)
    grad_h, grad_w2, grad_b2 = reference.linear_backward(h, w2, b2, grad_logits)
    grad_z1 = grad_h * (z1 >= 0)
    _, grad_w1, grad_b1 = reference.linear_backward(x, w1, b1, grad_z1)
    return {"w1": grad_w1, "b1": grad_b1, "w2": grad_w2, "b2": grad_b2}
