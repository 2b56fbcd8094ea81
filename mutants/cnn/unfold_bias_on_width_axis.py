"""Pitfall: the bias added with a bare `+ bias`, along the width instead of the channels (cnn.conv2d_unfold).

Added to the (N, C_out, H_out, W_out) image, it broadcasts over the last axis.
"""

from __future__ import annotations

from solutions import cnn as reference
from solutions.cnn import *  # noqa: F403


def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):
    out = reference.conv2d_unfold(x, weight, None, stride, padding)  # (N, C_out, H_out, W_out)
    if bias is not None:
        out = out + bias  # broadcasts over the last axis: per column, not per channel
    return out
