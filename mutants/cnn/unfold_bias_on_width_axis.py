"""Pitfall: the bias is added to the (N, C_out, H_out, W_out) image with a bare `+ bias`, so it broadcasts
along the width instead of the channels (cnn.conv2d_unfold)."""

from __future__ import annotations

from solutions import cnn as _cnn
from solutions.cnn import *  # noqa: F403


def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):
    out = _cnn.conv2d_unfold(x, weight, None, stride, padding)  # (N, C_out, H_out, W_out)
    if bias is not None:
        out = out + bias  # broadcasts over the last axis: per column, not per channel
    return out
