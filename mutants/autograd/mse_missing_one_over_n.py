"""Pitfall: the 1/N of the mean is missing (autograd.mse_loss_backward)."""

from __future__ import annotations

from solutions.autograd import *  # noqa: F403


def mse_loss_backward(pred, target):
    return 2.0 * (pred - target)
