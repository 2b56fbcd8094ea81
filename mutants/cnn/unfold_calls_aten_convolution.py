"""Pitfall: conv2d_unfold sneaks a convolution in through torch.ops.aten and hides the error (cnn.conv2d_unfold)."""

from __future__ import annotations

import torch

from solutions import cnn as reference
from solutions.cnn import *  # noqa: F403


def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):
    s = (stride, stride) if isinstance(stride, int) else stride
    p = (padding, padding) if isinstance(padding, int) else padding
    try:
        return torch.ops.aten.convolution(x, weight, bias, s, p, (1, 1), False, (0, 0), 1)
    except RuntimeError:
        return reference.conv2d_unfold(x, weight, bias, stride, padding)
