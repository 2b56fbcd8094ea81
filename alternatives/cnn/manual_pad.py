"""cnn, a correct alternative: zero padding by hand, unfold without padding, (N, L, C_out) product transposed back.

Red-team style for the test suite: written from the contract alone, in a style unlike solutions/.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _two(v):
    if isinstance(v, int):
        return [v, v]
    try:
        h, w = v
    except ValueError:
        raise ValueError(f"{v!r} is not an (h, w) pair") from None
    return [h, w]


def conv2d_output_size(size, kernel_size, stride=1, padding=0, dilation=1) -> tuple[int, int]:
    """Count the window positions along each axis, rounding down."""
    out = []
    for n, k, s, p, d in zip(*map(_two, (size, kernel_size, stride, padding, dilation))):
        padded, span = n + p + p, (k - 1) * d + 1
        if span > padded:
            raise ValueError(f"size {size} padded by {padding} is narrower than the kernel {kernel_size} "
                             f"dilated by {dilation}")
        out.append((padded - span) // s + 1)
    return tuple(out)


def conv2d_unfold(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1, padding=0):
    """Pad explicitly, take every patch as a row, multiply by the filters, put the channels back in front."""
    ph, pw = _two(padding)
    c_out, kh, kw = weight.shape[0], weight.shape[2], weight.shape[3]
    padded = F.pad(x, (pw, pw, ph, ph))
    h_out, w_out = conv2d_output_size(tuple(padded.shape[-2:]), (kh, kw), stride, 0)
    rows = F.unfold(padded, (kh, kw), stride=stride).transpose(1, 2)  # (N, L, C_in*kh*kw)
    out = rows @ weight.reshape(c_out, -1).t()  # (N, L, C_out)
    if bias is not None:
        out = out + bias
    return out.transpose(1, 2).reshape(x.shape[0], c_out, h_out, w_out)


class SmallCNN(nn.Module):
    """nn.Sequential blocks with bias-free convs, average pooling, and a 3x3 adaptive grid before the head."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()

        def block(a, b):
            return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True),
                    nn.AvgPool2d(2, ceil_mode=True)]

        self.net = nn.Sequential(
            *block(in_channels, 32), *block(32, 32), nn.AdaptiveAvgPool2d(3), nn.Flatten(), nn.Dropout(0.1),
            nn.Linear(32 * 9, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, num_classes)."""
        return self.net(x)
