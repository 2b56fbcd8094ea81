"""Pitfall: the division by the stride rounds up (ceil) instead of down (cnn.conv2d_output_size)."""

from __future__ import annotations

import math

from solutions import cnn as reference
from solutions.cnn import *  # noqa: F403


def conv2d_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    out = []
    for n, k, s, p, d in zip(reference._pair(size, "size"), reference._pair(kernel_size, "k"),
                             reference._pair(stride, "s"), reference._pair(padding, "p"),
                             reference._pair(dilation, "d")):
        out.append(math.ceil((n + 2 * p - d * (k - 1) - 1) / s) + 1)
    return out[0], out[1]
