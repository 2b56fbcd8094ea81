"""Pitfall: dilation is ignored, as if the kernel's taps were adjacent (cnn.conv2d_output_size)."""

from __future__ import annotations

from solutions import cnn as reference
from solutions.cnn import *  # noqa: F403


def conv2d_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    out = []
    for n, k, s, p in zip(reference._pair(size, "size"), reference._pair(kernel_size, "k"),
                          reference._pair(stride, "s"), reference._pair(padding, "p")):
        out.append((n + 2 * p - k) // s + 1)
    return out[0], out[1]
