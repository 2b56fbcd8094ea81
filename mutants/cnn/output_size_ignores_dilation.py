"""Pitfall: dilation is ignored, as if the kernel's taps were adjacent (cnn.conv2d_output_size)."""

from __future__ import annotations

from solutions.cnn import *  # noqa: F403
from solutions.cnn import _pair


def conv2d_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    out = []
    for n, k, s, p in zip(_pair(size, "size"), _pair(kernel_size, "k"), _pair(stride, "s"), _pair(padding, "p")):
        out.append((n + 2 * p - k) // s + 1)
    return out[0], out[1]
