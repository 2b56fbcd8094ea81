"""Pitfall: conv2d_output_size returns 0 or a negative size where nn.Conv2d has no output (cnn.conv2d_output_size)."""

from __future__ import annotations

from solutions import cnn as reference
from solutions.cnn import *  # noqa: F403


def conv2d_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    args = [reference._pair(v, "argument") for v in (size, kernel_size, stride, padding, dilation)]
    out = [(n + 2 * p - (d * (k - 1) + 1)) // s + 1 for n, k, s, p, d in zip(*args)]
    return out[0], out[1]
