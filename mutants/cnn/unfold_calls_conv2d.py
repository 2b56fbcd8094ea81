"""Pitfall: conv2d_unfold simply calls F.conv2d, which the exercise forbids (cnn.conv2d_unfold)."""

from __future__ import annotations

import torch.nn.functional as F

from solutions.cnn import *  # noqa: F403


def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):
    return F.conv2d(x, weight, bias, stride=stride, padding=padding)
