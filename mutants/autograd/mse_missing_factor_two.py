"""Pitfall: the factor 2 from the square is missing (autograd.mse_loss_backward)."""

from __future__ import annotations

from solutions.autograd import *  # noqa: F403


def mse_loss_backward(pred, target):
    return (pred - target) / pred.numel()
