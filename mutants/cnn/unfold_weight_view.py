"""Pitfall: filters flattened with weight.view(C_out, -1), failing on a channels_last weight (cnn.conv2d_unfold)."""

from __future__ import annotations

import torch.nn.functional as F

from solutions import cnn as reference
from solutions.cnn import *  # noqa: F403


def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):
    n = x.shape[0]
    c_out, _, kh, kw = weight.shape
    h_out, w_out = reference.conv2d_output_size(tuple(x.shape[-2:]), (kh, kw), stride, padding)
    out = weight.view(c_out, -1) @ F.unfold(x, (kh, kw), padding=padding, stride=stride)
    if bias is not None:
        out = out + bias.reshape(1, c_out, 1)
    return out.reshape(n, c_out, h_out, w_out)
