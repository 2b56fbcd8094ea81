"""cnn - convolutional networks: output sizes, convolution as im2col plus a matrix product, a small CNN.

A 2-D convolution slides a `(C_in, kh, kw)` filter over the (padded) image; every output pixel is a dot
product between one filter and one patch. Lay every patch out as a column (`F.unfold`, "im2col") and the
whole convolution becomes one matrix product. A CNN stacks such layers with BatchNorm, ReLU and pooling,
and adaptive pooling before the classifier makes it indifferent to the input's height and width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """`3` -> `(3, 3)`; `(3, 5)` -> `(3, 5)` (height first, then width)."""
    if isinstance(value, int):
        return value, value
    pair = tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or an (h, w) pair, got {value!r}")
    return pair[0], pair[1]


def conv2d_output_size(
    size: int | tuple[int, int],
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> tuple[int, int]:
    """The spatial size `(H_out, W_out)` of `nn.Conv2d`'s output for an input of spatial size `size`.

    Every argument is an int (the same for height and width) or an `(h, w)` pair, as in `nn.Conv2d`.
    Per dimension, count the positions where the kernel fits inside the padded input, stepping by
    `stride`: `padding` zeros go on BOTH sides; a kernel of `k` taps with dilation `d` leaves `d - 1`
    gaps between taps; a last window that would hang over the edge is dropped (round down, never up).

    Returns:
        a tuple of two Python ints `(H_out, W_out)`.

    Raises:
        ValueError: the (padded) input is smaller than the dilated kernel, so there is no output (the
            message names the size and the kernel); or an argument is a sequence of other than two
            values, such as ``(3,)`` or ``(1, 2, 3)`` (the message names it).

    Pitfalls: ceil instead of floor, dilation ignored, padding counted on one side only.
    """
    raise NotImplementedError(
        "cnn.conv2d_output_size: per dimension, count where the dilated kernel fits in the padded input"
    )


def conv2d_unfold(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> torch.Tensor:
    """`F.conv2d(x, weight, bias, stride, padding)` built from `F.unfold` (im2col) and a matrix product.

    Args:
        x: `(N, C_in, H, W)`.
        weight: `(C_out, C_in, kh, kw)`.
        bias: `(C_out,)` or None; one number per output channel, added at every position.
        stride, padding: int or `(h, w)` pair, as in `F.conv2d`.

    Returns:
        `(N, C_out, H_out, W_out)`, same dtype and device as `x`; differentiable with respect to `x`,
        `weight` and `bias`.

    `F.unfold` returns `(N, C_in * kh * kw, L)`: one column per output position, `L = H_out * W_out`
    in row-major order, each column ordered channel-major `(C_in, kh, kw)`, exactly like
    `weight.reshape(C_out, -1)`. Written without `F.conv2d` or any other convolution (the tests make
    every convolution unavailable while this runs). `x` and `weight` may be non-contiguous (a
    channels_last model, a transposed view) and are left unchanged.

    Pitfalls: the product comes out as `(N, C_out, L)`; viewing an `(N, L, C_out)` layout as
    `(N, C_out, H_out, W_out)` scrambles the image. The bias belongs to the channel axis, broadcast
    over every position, not to the last (width) axis.
    """
    raise NotImplementedError("cnn.conv2d_unfold: F.unfold the patches into columns, then one matrix product")


class SmallCNN(nn.Module):
    """A small CNN for digit-sized images: two Conv -> BatchNorm -> ReLU -> pool blocks, then a linear head.

    `SmallCNN(in_channels=1, num_classes=10)` maps `(N, in_channels, H, W)` float images (any H, W of
    at least 4, square or not, e.g. 8x8 digits or 28x28 MNIST; any N, in train mode N >= 2, in eval
    mode a batch of one too, since BatchNorm in train mode needs more than one value per channel;
    contiguous or channels_last) to logits `(N, num_classes)`. Well under 100k
    parameters. Trained with Adam (lr 1e-3 to 1e-2), batch size 64, for a few epochs, it reaches over
    95% held-out accuracy on the 8x8 digits.

    Pitfall: a classifier sized for one input size (`nn.Linear(48 * 2 * 2, ...)` after flattening an
    8x8 input) breaks on any other size; adaptive pooling to a fixed grid makes the head size-free.
    BatchNorm makes `train()` and `eval()` behave differently: evaluate in `eval()` mode.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10):
        super().__init__()
        raise NotImplementedError("cnn.SmallCNN: Conv -> BatchNorm2d -> ReLU -> pool, twice; adaptive pool; nn.Linear")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(N, in_channels, H, W)` -> logits `(N, num_classes)`."""
        raise NotImplementedError("cnn.SmallCNN.forward: the blocks, adaptive pooling, flatten, the classifier")


if __name__ == "__main__":  # python -m exercises.cnn: the concept at work, with real numbers
    from demos import run

    run("cnn")
