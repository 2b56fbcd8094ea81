"""Pitfall: the result comes back as (W_out, H_out), width first (cnn.conv2d_output_size)."""

from __future__ import annotations

from solutions import cnn as reference
from solutions.cnn import *  # noqa: F403


def conv2d_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    h_out, w_out = reference.conv2d_output_size(size, kernel_size, stride, padding, dilation)
    return w_out, h_out
