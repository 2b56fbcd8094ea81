"""Pitfall: the 1/N of the mean reduction is missing (autograd.cross_entropy_backward)."""

from __future__ import annotations

import torch

from solutions.autograd import *  # noqa: F403


def cross_entropy_backward(logits, targets):
    probs = torch.softmax(logits, dim=1)
    probs[torch.arange(logits.shape[0], device=logits.device), targets] -= 1.0
    return probs
