"""Pitfall: padding counted once, as if zeros went on one side only (cnn.conv2d_output_size)."""

from __future__ import annotations

from solutions.cnn import *  # noqa: F403
from solutions.cnn import _pair


def conv2d_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    out = []
    for n, k, s, p, d in zip(_pair(size, "size"), _pair(kernel_size, "k"), _pair(stride, "s"), _pair(padding, "p"),
                             _pair(dilation, "d")):
        out.append((n + p - d * (k - 1) - 1) // s + 1)
    return out[0], out[1]
