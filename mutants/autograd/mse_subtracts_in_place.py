"""Pitfall: pred - target computed in place, overwriting the predictions (autograd.mse_loss_backward)."""

from __future__ import annotations

from solutions.autograd import *  # noqa: F403


def mse_loss_backward(pred, target):
    diff = pred.sub_(target)
    return 2.0 * diff / diff.numel()
