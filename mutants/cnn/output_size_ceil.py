"""Pitfall: the division by the stride rounds up (ceil) instead of down (cnn.conv2d_output_size)."""

from __future__ import annotations

import math

from solutions.cnn import *  # noqa: F403
from solutions.cnn import _pair


def conv2d_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    out = []
    for n, k, s, p, d in zip(_pair(size, "size"), _pair(kernel_size, "k"), _pair(stride, "s"), _pair(padding, "p"),
                             _pair(dilation, "d")):
        out.append(math.ceil((n + 2 * p - d * (k - 1) - 1) / s) + 1)
    return out[0], out[1]
