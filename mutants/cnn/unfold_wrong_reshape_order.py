"""Pitfall: the (N, L, C_out) product viewed as (N, C_out, H_out, W_out) without a permute (cnn.conv2d_unfold)."""

from __future__ import annotations

import torch.nn.functional as F

from solutions.cnn import *  # noqa: F403


def conv2d_unfold(x, weight, bias=None, stride=1, padding=0):
    n = x.shape[0]
    c_out, _, kh, kw = weight.shape
    h_out, w_out = conv2d_output_size(tuple(x.shape[-2:]), (kh, kw), stride, padding)  # noqa: F405
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # (N, C_in*kh*kw, L)
    out = cols.transpose(1, 2) @ weight.reshape(c_out, -1).T  # (N, L, C_out)
    if bias is not None:
        out = out + bias  # right for this layout
    return out.reshape(n, c_out, h_out, w_out)  # wrong: C_out is last, not second
