"""Pitfall: the filters flattened in (kh, kw, C_in) order, F.unfold's rows are (C_in, kh, kw) (cnn.conv2d_unfold)."""

from __future__ import annotations

import torch.nn.functional as F

from solutions.cnn import *  # noqa: F403


def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):
    n = x.shape[0]
    c_out, _, kh, kw = weight.shape
    h_out, w_out = conv2d_output_size(tuple(x.shape[-2:]), (kh, kw), stride, padding)  # noqa: F405
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)
    out = weight.permute(0, 2, 3, 1).reshape(c_out, -1) @ cols  # wrong row order
    if bias is not None:
        out = out + bias.reshape(1, c_out, 1)
    return out.reshape(n, c_out, h_out, w_out)
