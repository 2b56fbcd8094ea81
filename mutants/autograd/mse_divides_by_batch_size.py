"""Pitfall: divides by the batch size pred.shape[0] instead of the number of elements (autograd.mse_loss_backward)."""

from __future__ import annotations

from solutions.autograd import *  # noqa: F403


def mse_loss_backward(pred, target):
    return 2.0 * (pred - target) / pred.shape[0]
