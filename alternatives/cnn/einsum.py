"""cnn, a correct alternative: per-dimension arithmetic with math.floor, einsum over F.unfold's columns,
functional ReLU and pooling in the network's forward.

Red-team style for the test suite: written from the contract alone, in a style unlike solutions/.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _hw(value) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if len(value) == 2:
        return int(value[0]), int(value[1])
    raise ValueError(f"expected an int or an (h, w) pair, got {value!r}")


def conv2d_output_size(size, kernel_size, stride=1, padding=0, dilation=1) -> tuple[int, int]:
    """(H_out, W_out) of nn.Conv2d for an input of spatial size `size`."""
    dims = zip(_hw(size), _hw(kernel_size), _hw(stride), _hw(padding), _hw(dilation))
    h, w = (math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1 for n, k, s, p, d in dims)
    if min(h, w) <= 0:
        raise ValueError(f"no output: a kernel of {kernel_size} (dilation {dilation}) does not fit in an input of "
                         f"{size} padded by {padding}")
    return h, w


def conv2d_unfold(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1, padding=0):
    """F.conv2d from F.unfold and an einsum."""
    kernel = tuple(weight.shape[-2:])
    h_out, w_out = conv2d_output_size(tuple(x.shape[-2:]), kernel, stride, padding)
    cols = F.unfold(x, kernel, padding=padding, stride=stride)  # (N, C_in*kh*kw, L)
    out = torch.einsum("ok,nkl->nol", weight.flatten(1), cols)
    if bias is not None:
        out = out + bias[None, :, None]
    return out.unflatten(-1, (h_out, w_out))


class SmallCNN(nn.Module):
    """Three conv -> batchnorm -> relu -> max-pool stages (ReLU and pooling functional), adaptive max-pool, linear."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        widths = [in_channels, 16, 32, 64]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths, widths[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm2d(b) for b in widths[1:])
        self.head = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, num_classes)."""
        for conv, norm in zip(self.convs, self.norms):
            x = F.relu(norm(conv(x)))
            if min(x.shape[-2:]) >= 2:
                x = F.max_pool2d(x, 2)
        return self.head(F.adaptive_max_pool2d(x, 1).flatten(1))
