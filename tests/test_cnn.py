"""cnn: conv output sizes against nn.Conv2d, im2col convolution against F.conv2d, a small CNN.

conv2d_unfold runs with every convolution switched off (F.conv2d, torch.conv2d, nn.Conv2d, and through a
TorchFunctionMode every torch function whose name says conv, torch.ops.aten.convolution included), so only
F.unfold (im2col, not a convolution) and matrix products can do the work.
"""

from __future__ import annotations

import contextlib
import random

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from kata.learn.checks import (
    devices,
    expect,
    expect_close,
    expect_device,
    expect_dtype,
    expect_equal,
    expect_raises,
    expect_shape,
    expect_tensor,
    fail,
    raised,
)
from kata.learn.data import digits

conv2d_output_size = pytest.mark.exercise("conv2d_output_size")
conv2d_unfold = pytest.mark.exercise("conv2d_unfold")
SmallCNN = pytest.mark.exercise("SmallCNN")
demo = pytest.mark.exercise("demo")


# ---------------------------------------------------------------- conv2d_output_size


def _as_pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _torch_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    """The spatial size nn.Conv2d really produces (F.conv2d on an empty batch: shapes only), or None if invalid."""
    (h, w), (kh, kw) = _as_pair(size), _as_pair(kernel_size)
    x = torch.zeros(0, 1, h, w)
    weight = torch.zeros(1, 1, kh, kw)
    try:
        out = F.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation)
    except RuntimeError:
        return None
    return tuple(out.shape[-2:])


def _describe_config(size, kernel_size, stride, padding, dilation) -> str:
    return (
        f"conv2d_output_size({size!r}, {kernel_size!r}, stride={stride!r}, padding={padding!r}, "
        f"dilation={dilation!r})"
    )


def _check_configs(impl, configs, hint: str) -> None:
    """Compare with nn.Conv2d config by config; report the first disagreement."""
    __tracebackhide__ = True
    for size, kernel_size, stride, padding, dilation in configs:
        expected = _torch_output_size(size, kernel_size, stride, padding, dilation)
        assert expected is not None, "test bug: invalid config in the table"
        call = _describe_config(size, kernel_size, stride, padding, dilation)
        got = impl.conv2d_output_size(size, kernel_size, stride=stride, padding=padding, dilation=dilation)
        if not isinstance(got, tuple):
            fail(f"{call} returned {type(got).__name__} {got!r}; expected the tuple {expected!r}",
                 "return a tuple of two Python ints: (H_out, W_out)")
        if got != expected:
            fail(f"{call} returned {got!r}, but nn.Conv2d produces an output of spatial size {expected!r}", hint)


@conv2d_output_size
def test_conv2d_output_size_returns_a_tuple_of_two_ints(impl):
    got = impl.conv2d_output_size(8, 3)
    expect(isinstance(got, tuple), f"expected a tuple (H_out, W_out), got {type(got).__name__} {got!r}",
           "return a tuple even when every argument is an int: an int means the same value for H and W")
    expect(len(got) == 2, f"expected two numbers (H_out, W_out), got {len(got)}: {got!r}")
    for name, v in zip(("H_out", "W_out"), got):
        expect(isinstance(v, int) and not isinstance(v, bool),
               f"{name} should be a Python int, got {type(v).__name__} {v!r}",
               "use integer arithmetic (//) rather than float division, or convert with int()")
    expect(got == (6, 6), f"an 8x8 input with a 3x3 kernel gives a 6x6 output, got {got!r}",
           "the kernel fits at 6 positions along each side of an 8x8 image")


@conv2d_output_size
def test_conv2d_output_size_matches_nn_conv2d_on_textbook_layers(impl):
    configs = [
        (8, 3, 1, 0, 1),  # valid convolution
        (8, 3, 1, 1, 1),  # 'same' padding for a 3x3 kernel
        (28, 5, 1, 2, 1),  # 'same' padding for a 5x5 kernel
        (32, 3, 2, 1, 1),  # stride-2 downsampling, even input
        (224, 7, 2, 3, 1),  # ResNet stem
        (5, 5, 1, 0, 1),  # kernel as large as the input: a single output pixel
        (7, 1, 1, 0, 1),  # 1x1 convolution keeps the size
        (6, 2, 2, 0, 1),  # non-overlapping 2x2 patches
    ]
    _check_configs(impl, configs, "per dimension, count the positions where the kernel fits inside the padded input, "
                   "stepping by stride")


@conv2d_output_size
def test_conv2d_output_size_rounds_down_when_the_stride_does_not_divide(impl):
    configs = [
        (8, 3, 2, 0, 1),  # (8 - 3) / 2 = 2.5 -> 3 outputs, not 4
        (7, 2, 2, 0, 1),
        (10, 3, 3, 1, 1),
        (9, 4, 2, 0, 1),
        (28, 3, 2, 0, 1),
    ]
    _check_configs(
        impl, configs,
        "a window that would hang over the edge is dropped: the division by the stride rounds DOWN (floor or //), "
        "not up (ceil)",
    )


@conv2d_output_size
def test_conv2d_output_size_accounts_for_dilation(impl):
    configs = [
        (10, 3, 1, 0, 2),  # a 3-tap kernel with dilation 2 spans 5 pixels
        (16, 3, 1, 2, 2),  # 'same' padding for dilation 2
        (20, 5, 1, 0, 3),
        (15, 3, 2, 1, 4),
    ]
    _check_configs(
        impl, configs,
        "a dilated kernel of k taps spans dilation*(k - 1) + 1 pixels: dilation changes the output size",
    )


@conv2d_output_size
def test_conv2d_output_size_pads_both_sides(impl):
    configs = [
        (8, 3, 1, 1, 1),
        (5, 3, 1, 2, 1),
        (10, 5, 1, 3, 1),
        (4, 1, 1, 1, 1),  # a 1x1 kernel over a padded input grows the output by 2*padding
    ]
    _check_configs(
        impl, configs,
        "padding=p adds p zeros on EACH side (top and bottom, left and right): the padded size is size + 2*p",
    )


@conv2d_output_size
def test_conv2d_output_size_keeps_height_and_width_apart(impl):
    configs = [
        ((8, 12), 3, 1, 0, 1),
        (10, (3, 5), 1, 0, 1),
        (16, 3, (2, 1), 0, 1),
        (12, 3, 1, (0, 2), 1),
        (14, 3, 1, 0, (1, 3)),
        ((9, 20), (3, 1), (1, 3), (1, 0), (2, 1)),
        ((30, 7), (5, 2), (3, 2), (2, 1), (1, 2)),
    ]
    _check_configs(
        impl, configs,
        "an (h, w) pair gives height first, then width, as in nn.Conv2d; an int means the same value for both; "
        "the result is (H_out, W_out)",
    )


def _random_configs(n: int, seed: int):
    """`n` valid configs, each argument randomly an int or an (h, w) pair."""
    rng = random.Random(seed)

    def arg(lo, hi):
        return rng.randint(lo, hi) if rng.random() < 0.5 else (rng.randint(lo, hi), rng.randint(lo, hi))

    configs = []
    while len(configs) < n:
        config = (arg(1, 40), arg(1, 7), arg(1, 4), arg(0, 3), arg(1, 3))
        if _torch_output_size(*config) is not None:
            configs.append(config)
    return configs


@conv2d_output_size
def test_conv2d_output_size_agrees_with_nn_conv2d_on_random_configs(impl):
    _check_configs(
        impl, _random_configs(300, seed=4),
        "per dimension: padded size, minus the span of the dilated kernel, divided by the stride (rounded "
        "down), plus one; each argument an int or an (h, w) pair",
    )


def _random_invalid_configs(n: int, seed: int):
    """`n` configs with no output (nn.Conv2d refuses them), in one dimension or both, ints and pairs mixed."""
    rng = random.Random(seed)

    def arg(lo, hi):
        return rng.randint(lo, hi) if rng.random() < 0.5 else (rng.randint(lo, hi), rng.randint(lo, hi))

    configs = []
    while len(configs) < n:
        config = (arg(1, 12), arg(2, 9), arg(1, 4), arg(0, 2), arg(1, 3))
        if _torch_output_size(*config) is None:
            configs.append(config)
    return configs


NO_OUTPUT_HINT = ("when the dilated kernel, dilation*(k - 1) + 1 pixels, is wider than the padded input, size + "
                  "2*padding, in either dimension, there is no output: raise ValueError instead of returning a size "
                  "of 0 or less")


@conv2d_output_size
def test_conv2d_output_size_raises_value_error_when_the_kernel_does_not_fit(impl):
    configs = [
        (2, 3, 1, 0, 1),  # (2 - 3) // 1 + 1 = 0 outputs
        (3, 5, 1, 0, 1),
        (1, 4, 3, 1, 1),  # padded to 3, still narrower than the kernel
        (5, 3, 1, 0, 3),  # dilation 3: the kernel spans 7 pixels
        ((8, 2), 3, 1, 0, 1),  # the height fits, the width does not
        (10, (3, 11), 1, 0, 1),
        (6, 4, 1, (2, 0), (1, 2)),  # the width's dilated kernel (7) is wider than its unpadded 6
    ] + _random_invalid_configs(60, seed=5)
    for size, kernel_size, stride, padding, dilation in configs:
        call = _describe_config(size, kernel_size, stride, padding, dilation)
        got, error = None, None
        try:
            got = impl.conv2d_output_size(size, kernel_size, stride=stride, padding=padding, dilation=dilation)
        except NotImplementedError:
            raise
        except Exception as err:  # noqa: BLE001 - judged below, outside the handler
            error = err
        expect(error is not None, f"{call} returned {got!r}, but nn.Conv2d refuses this configuration: there is "
               "no output", NO_OUTPUT_HINT)
        expect(isinstance(error, ValueError), f"{call} raised {type(error).__name__}: {error}; expected ValueError",
               NO_OUTPUT_HINT)


@conv2d_output_size
def test_conv2d_output_size_error_names_the_size_and_the_kernel(impl):
    for size, kernel_size, dilation in [(5, 7, 1), (9, 3, 5)]:
        call = f"conv2d_output_size({size}, {kernel_size}, dilation={dilation})"
        for value in (size, kernel_size):
            with expect_raises(ValueError, call, names=value):
                impl.conv2d_output_size(size, kernel_size, dilation=dilation)


@conv2d_output_size
@pytest.mark.parametrize("argument", ["size", "kernel_size", "stride", "padding", "dilation"])
def test_conv2d_output_size_rejects_a_sequence_that_is_not_a_pair(impl, argument):
    valid = {"size": 12, "kernel_size": 3, "stride": 1, "padding": 1, "dilation": 1}
    for bad in [(valid[argument],), (valid[argument],) * 3]:
        args = {**valid, argument: bad}
        call = _describe_config(*args.values())
        with expect_raises(ValueError, f"{call} ({argument} is neither an int nor an (h, w) pair)"):
            impl.conv2d_output_size(**args)


# ---------------------------------------------------------------- conv2d_unfold

OFF_LIMITS = "conv2d is off limits in conv2d_unfold: build it from F.unfold and a matrix product"


class _ConvOffLimits(TorchFunctionMode):
    """Refuses every torch function that convolves (torch.conv2d, torch.convolution, torch.ops.aten.*conv*,
    F.conv1d, ...) whichever name it is reached by."""

    def __init__(self, calls: list[str]):
        super().__init__()
        self.calls = calls

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "") or str(func)
        if "conv" in name and "convert" not in name:
            self.calls.append(name)
            raise RuntimeError(f"{OFF_LIMITS} (called {name})")
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def _no_convolution(calls: list[str]):
    """While active, every way to run a convolution raises and is recorded in `calls`.

    F.unfold still works: it is im2col (torch._C._nn.im2col), not a convolution."""

    def blocked(name):
        def refuse(*args, **kwargs):
            calls.append(name)
            raise RuntimeError(f"{OFF_LIMITS} (called {name})")

        return refuse

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(F, "conv2d", blocked("torch.nn.functional.conv2d"))
        mp.setattr(torch, "conv2d", blocked("torch.conv2d"))
        mp.setattr(torch, "convolution", blocked("torch.convolution"))
        mp.setattr(torch, "_convolution", blocked("torch._convolution"))
        mp.setattr(nn.Conv2d, "forward", blocked("nn.Conv2d.forward"))
        mp.setattr(nn.Conv2d, "_conv_forward", blocked("nn.Conv2d._conv_forward"))
        with _ConvOffLimits(calls):
            yield


def _unfold_conv(impl, *args, hint=None, **kwargs):
    """Call impl.conv2d_unfold with every convolution off limits; teach if it tried one anyway."""
    __tracebackhide__ = True
    calls: list[str] = []
    out, error = None, None
    try:
        with _no_convolution(calls):
            out = impl.conv2d_unfold(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as err:  # reported below, outside the handler, so the message stands alone
        error = raised(err)
    if calls:
        fail(f"{OFF_LIMITS}; it called {calls[0]}" + ("" if error else " (and caught the error)"),
             "F.unfold gives the patches as columns; one matrix product with the flattened filters does every "
             "dot product at once")
    if error:
        if _runs_without_bias(impl, args, kwargs):
            hint = ("it runs without bias and fails with one: bias[c] is added to every position of output "
                    "channel c, so shape it (1, C_out, 1) for the (N, C_out, L) product or (1, C_out, 1, 1) for "
                    "the image")
        fail(f"conv2d_unfold raised {error}",
             hint or "F.unfold(x, (kh, kw), padding=padding, stride=stride) gives (N, C_in*kh*kw, L); the "
             "flattened filters are weight.reshape(C_out, -1)")
    return out


def _runs_without_bias(impl, args, kwargs) -> bool:
    """A bias was given, and the same call with bias=None raises nothing: the bias is what fails."""
    if (args[2] if len(args) > 2 else kwargs.get("bias")) is None:
        return False
    args, kwargs = (*args[:2], None, *args[3:]) if len(args) > 2 else args, {**kwargs, "bias": None}
    if len(args) > 2:
        kwargs.pop("bias")
    try:
        with _no_convolution([]):
            impl.conv2d_unfold(*args, **kwargs)
    except Exception:  # noqa: BLE001 - it fails without the bias too: not the bias's fault
        return False
    return True


def _conv_inputs(n, c_in, c_out, hw, khw, *, bias=False, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c_in, *hw, generator=g, dtype=dtype)
    weight = torch.randn(c_out, c_in, *khw, generator=g, dtype=dtype)
    b = torch.randn(c_out, generator=g, dtype=dtype) if bias else None
    return x, weight, b


RESHAPE_HINT = (
    "the matrix product of the flattened filters (C_out, C_in*kh*kw) with F.unfold's columns (N, C_in*kh*kw, L) "
    "is (N, C_out, L); only that layout reshapes straight to (N, C_out, H_out, W_out)"
)


@conv2d_unfold
def test_conv2d_unfold_returns_the_conv_output_shape_and_dtype(impl):
    x, weight, _ = _conv_inputs(2, 3, 4, (7, 6), (3, 3))
    out = _unfold_conv(impl, x, weight)
    expect_tensor(out, "conv2d_unfold(x, weight)")
    expect_shape(out, (2, 4, 5, 4), "conv2d_unfold(x (2, 3, 7, 6), weight (4, 3, 3, 3))",
                 "the output is (N, C_out, H_out, W_out), with H_out, W_out as conv2d_output_size gives them")
    expect_dtype(out, torch.float64, "conv2d_unfold output", "keep the input's dtype: no float32 tensors inside")


@conv2d_unfold
def test_conv2d_unfold_matches_conv2d_without_bias(impl):
    x, weight, _ = _conv_inputs(2, 3, 4, (7, 6), (3, 3))
    expected = F.conv2d(x, weight)
    out = _unfold_conv(impl, x, weight)
    expect_close(out, expected, what="conv2d_unfold(x, weight) vs F.conv2d", rtol=1e-10, atol=1e-10,
                 hint=RESHAPE_HINT + "; and the filters flatten channel-major, (C_in, kh, kw), like F.unfold's rows")


@conv2d_unfold
def test_conv2d_unfold_adds_one_bias_per_output_channel(impl):
    # C_out == W_out == 4, so a bias broadcast along the wrong axis runs silently and shows up in the values.
    x, weight, bias = _conv_inputs(2, 3, 4, (6, 6), (3, 3), bias=True, seed=1)
    expected = F.conv2d(x, weight, bias)
    out = _unfold_conv(impl, x, weight, bias)
    expect_close(out, expected, what="conv2d_unfold(x, weight, bias) vs F.conv2d", rtol=1e-10, atol=1e-10,
                 hint="bias[c] is added to every position of output channel c: shape it (1, C_out, 1) for an "
                      "(N, C_out, L) product or (1, C_out, 1, 1) for the image; a bare `+ bias` broadcasts "
                      "along the last (width) axis")


@conv2d_unfold
def test_conv2d_unfold_bias_none_means_no_bias(impl):
    x, weight, _ = _conv_inputs(1, 2, 3, (5, 5), (3, 3), seed=2)
    expected = F.conv2d(x, weight, None)
    out = _unfold_conv(impl, x, weight, None)
    expect_close(out, expected, what="conv2d_unfold(x, weight, bias=None)", rtol=1e-10, atol=1e-10,
                 hint="bias=None means no bias term at all")


@conv2d_unfold
def test_conv2d_unfold_int_stride_and_padding(impl):
    x, weight, bias = _conv_inputs(2, 3, 5, (9, 7), (3, 3), bias=True, seed=3)
    expected = F.conv2d(x, weight, bias, stride=2, padding=1)
    out = _unfold_conv(impl, x, weight, bias, stride=2, padding=1)
    expect_close(out, expected, what="conv2d_unfold(..., stride=2, padding=1) vs F.conv2d", rtol=1e-10,
                 atol=1e-10, hint="pass stride and padding to F.unfold, and use the same ones for H_out, W_out")


@conv2d_unfold
def test_conv2d_unfold_pair_stride_and_padding(impl):
    x, weight, bias = _conv_inputs(2, 2, 3, (8, 11), (3, 3), bias=True, seed=4)
    expected = F.conv2d(x, weight, bias, stride=(2, 1), padding=(0, 2))
    out = _unfold_conv(impl, x, weight, bias, stride=(2, 1), padding=(0, 2))
    expect_close(out, expected, what="conv2d_unfold(..., stride=(2, 1), padding=(0, 2)) vs F.conv2d",
                 rtol=1e-10, atol=1e-10,
                 hint="(h, w) pairs: the first number is for the height, the second for the width")


@conv2d_unfold
def test_conv2d_unfold_non_square_kernel(impl):
    x, weight, bias = _conv_inputs(3, 2, 4, (7, 9), (2, 4), bias=True, seed=5)
    expected = F.conv2d(x, weight, bias, stride=(1, 2), padding=(1, 0))
    out = _unfold_conv(impl, x, weight, bias, stride=(1, 2), padding=(1, 0))
    expect_close(out, expected, what="conv2d_unfold with a (2, 4) kernel vs F.conv2d", rtol=1e-10, atol=1e-10,
                 hint="take kh, kw from weight.shape[-2:] and keep them in that order; " + RESHAPE_HINT)


@conv2d_unfold
def test_conv2d_unfold_keeps_batch_items_and_positions_in_place(impl):
    # Distinct N, C_out, H_out and W_out, so any transposed or mis-ordered reshape scrambles the values.
    x, weight, bias = _conv_inputs(3, 4, 5, (8, 10), (3, 2), bias=True, seed=6)
    expected = F.conv2d(x, weight, bias)
    out = _unfold_conv(impl, x, weight, bias)
    expect_shape(out, expected.shape, "conv2d_unfold output (N=3, C_out=5, H_out=6, W_out=9)")
    for i in range(x.shape[0]):
        expect_close(out[i], expected[i], what=f"batch item {i} of conv2d_unfold", rtol=1e-10, atol=1e-10,
                     hint=RESHAPE_HINT)


@conv2d_unfold
def test_conv2d_unfold_edge_shapes(impl):
    cases = [  # (n, c_in, c_out, (h, w), (kh, kw), stride, padding)
        (2, 3, 4, (5, 6), (1, 1), 1, 0),  # 1x1 kernel: channel mixing at every pixel
        (2, 2, 3, (4, 5), (4, 5), 1, 0),  # kernel as large as the input: one output pixel
        (1, 1, 1, (6, 6), (3, 3), 1, 1),  # single channel in and out
        (4, 1, 2, (3, 3), (3, 3), 1, 2),  # padding larger than needed
        (2, 3, 2, (10, 4), (3, 1), 3, (1, 0)),
    ]
    for k, (n, c_in, c_out, hw, khw, stride, padding) in enumerate(cases):
        x, weight, bias = _conv_inputs(n, c_in, c_out, hw, khw, bias=True, seed=10 + k)
        expected = F.conv2d(x, weight, bias, stride=stride, padding=padding)
        out = _unfold_conv(impl, x, weight, bias, stride=stride, padding=padding)
        expect_close(out, expected, rtol=1e-10, atol=1e-10, hint=RESHAPE_HINT,
                     what=f"conv2d_unfold with x {tuple(x.shape)}, weight {tuple(weight.shape)}, stride={stride}, "
                          f"padding={padding}")


@conv2d_unfold
def test_conv2d_unfold_works_in_float32(impl):
    x, weight, bias = _conv_inputs(2, 3, 4, (7, 7), (3, 3), bias=True, dtype=torch.float32, seed=7)
    expected = F.conv2d(x, weight, bias, padding=1)
    out = _unfold_conv(impl, x, weight, bias, padding=1)
    expect_close(out, expected, what="conv2d_unfold in float32 vs F.conv2d", rtol=1e-4, atol=1e-5,
                 hint="keep the input's dtype throughout")


@conv2d_unfold
def test_conv2d_unfold_gradients_match_conv2d(impl):
    x, weight, bias = _conv_inputs(2, 3, 4, (6, 7), (3, 2), bias=True, seed=8)
    grad_out = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    leaves = [t.clone().requires_grad_() for t in (x, weight, bias)]
    F.conv2d(*leaves, stride=(2, 2), padding=(1, 0)).backward(grad_out)
    mine = [t.clone().requires_grad_() for t in (x, weight, bias)]
    out = _unfold_conv(impl, *mine, stride=(2, 2), padding=(1, 0))
    expect_shape(out, grad_out.shape, "conv2d_unfold output")
    expect(out.requires_grad, "conv2d_unfold's output does not require grad although x, weight and bias do",
           "build it from differentiable tensor operations (no .data, .detach(), .numpy() or no_grad)")
    out.backward(grad_out)
    for name, got, ref in zip(("x", "weight", "bias"), mine, leaves):
        expect(got.grad is not None, f"no gradient reached {name}",
               "use the tensor itself in the computation, not .data or .detach()")
        expect_close(got.grad, ref.grad, what=f"gradient of {name}", rtol=1e-10, atol=1e-10)


@conv2d_unfold
def test_conv2d_unfold_takes_non_contiguous_inputs_and_leaves_them_unchanged(impl):
    x, weight, bias = _conv_inputs(2, 3, 4, (7, 6), (3, 2), bias=True, seed=13)
    expected = F.conv2d(x, weight, bias, stride=(2, 1), padding=1)
    every_other = torch.stack([bias, torch.zeros_like(bias)], dim=-1)[:, 0]  # bias's values, stride 2
    cases = {
        "channels_last x and weight (the layout of a model moved to memory_format=torch.channels_last)": (
            x.to(memory_format=torch.channels_last), weight.to(memory_format=torch.channels_last), bias),
        "x and weight as transposed views (their last two axes swapped in memory), a strided bias": (
            x.transpose(-1, -2).contiguous().transpose(-1, -2), weight.transpose(-1, -2).contiguous().transpose(-1, -2),
            every_other),
    }
    hint = ("inputs may be non-contiguous: weight.reshape(C_out, -1) copies when it must, weight.view(C_out, -1) "
            "fails on a channels_last or transposed weight")
    for case, (xc, wc, bc) in cases.items():
        before = [t.clone() for t in (xc, wc, bc)]
        out = _unfold_conv(impl, xc, wc, bc, stride=(2, 1), padding=1, hint=hint)
        expect_close(out, expected, what=f"conv2d_unfold with {case}", rtol=1e-10, atol=1e-10, hint=hint)
        for name, t, b in zip(("x", "weight", "bias"), (xc, wc, bc), before):
            expect_equal(t, b, what=f"{name} after conv2d_unfold ({case})",
                         hint="a convolution reads its inputs: pad, unfold and reshape into new tensors")


@conv2d_unfold
@pytest.mark.parametrize("device", devices())
def test_conv2d_unfold_computes_on_the_input_device(impl, device):
    x, weight, bias = (t.to(device) for t in _conv_inputs(2, 3, 4, (7, 6), (3, 3), bias=True, seed=12))
    expected = F.conv2d(x, weight, bias, stride=(1, 2), padding=1)
    out = _unfold_conv(impl, x, weight, bias, stride=(1, 2), padding=1)
    expect_close(out, expected, what=f"conv2d_unfold on {device} vs F.conv2d", rtol=1e-10, atol=1e-10,
                 hint="build everything from x and weight (F.unfold, reshape, @): no tensor created on the CPU")


# ---------------------------------------------------------------- SmallCNN

ADAPTIVE_HINT = (
    "size the classifier for a fixed grid: nn.AdaptiveAvgPool2d (or AdaptiveMaxPool2d) brings any H, W to it, "
    "so the nn.Linear never depends on the input size"
)


def _forward(model, x, what: str, hint: str = ADAPTIVE_HINT):
    __tracebackhide__ = True
    try:
        return model(x)
    except NotImplementedError:
        raise
    except Exception as err:  # reported below, outside the handler, so the message stands alone
        error = f"{type(err).__name__}: {err}"
    fail(f"{what}: the forward pass raised {error}", hint)


@SmallCNN
def test_smallcnn_maps_8x8_digits_to_logits(impl):
    model = impl.SmallCNN()
    expect(isinstance(model, nn.Module), f"SmallCNN() should be an nn.Module, got {type(model).__name__}")
    x = torch.rand(5, 1, 8, 8)
    logits = _forward(model, x, "SmallCNN() on a (5, 1, 8, 8) batch")
    expect_shape(logits, (5, 10), "SmallCNN()(x (5, 1, 8, 8))", "one logit per class: (N, num_classes)")
    expect_dtype(logits, torch.float32, "SmallCNN logits")


@SmallCNN
def test_smallcnn_accepts_28x28_inputs(impl):
    model = impl.SmallCNN()
    logits = _forward(model, torch.rand(4, 1, 28, 28), "SmallCNN() on a (4, 1, 28, 28) batch")
    expect_shape(logits, (4, 10), "SmallCNN()(x (4, 1, 28, 28))", ADAPTIVE_HINT)


@SmallCNN
def test_smallcnn_same_model_takes_both_input_sizes(impl):
    model = impl.SmallCNN()
    small = _forward(model, torch.rand(3, 1, 8, 8), "SmallCNN() on 8x8")
    large = _forward(model, torch.rand(3, 1, 28, 28), "the same SmallCNN() on 28x28 after 8x8")
    expect_shape(small, (3, 10), "logits for 8x8", ADAPTIVE_HINT)
    expect_shape(large, (3, 10), "logits for 28x28", ADAPTIVE_HINT)


SIZES = [(4, 4), (5, 7), (13, 9), (8, 8), (4, 31), (31, 4), (6, 5), (28, 28)]


@SmallCNN
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_smallcnn_takes_any_height_and_width_of_at_least_4(impl, mode):
    model = impl.SmallCNN(in_channels=2, num_classes=3).train(mode == "train")
    n = 2 if mode == "train" else 1  # in train mode BatchNorm needs more than one value per channel
    hint = ("every 2x2 pooling halves H and W (rounding down): two of them take 4x4 to 1x1, a third to nothing; "
            "adaptive pooling then brings any grid to the classifier's fixed size")
    for h, w in SIZES:
        x = torch.rand(n, 2, h, w, generator=torch.Generator().manual_seed(h * 100 + w))
        what = f"SmallCNN(in_channels=2, num_classes=3) in {mode} mode on a ({n}, 2, {h}, {w}) batch"
        logits = _forward(model, x, what, hint)
        expect_shape(logits, (n, 3), what, hint)
        expect(torch.isfinite(logits).all(), f"{what}: the logits hold inf or NaN: {logits}", hint)


@SmallCNN
def test_smallcnn_follows_in_channels_and_num_classes(impl):
    model = impl.SmallCNN(in_channels=3, num_classes=5)
    for hw in ((8, 8), (28, 28)):
        logits = _forward(model, torch.rand(4, 3, *hw), f"SmallCNN(in_channels=3, num_classes=5) on (4, 3, {hw[0]}, "
                                                        f"{hw[1]})")
        expect_shape(logits, (4, 5), f"SmallCNN(in_channels=3, num_classes=5) logits for {hw[0]}x{hw[1]} RGB",
                     "the first conv takes in_channels channels and the classifier gives num_classes logits")


@SmallCNN
@pytest.mark.parametrize("device", devices())
def test_smallcnn_runs_on_the_models_device(impl, device):
    model = impl.SmallCNN().to(device)
    logits = _forward(model, torch.rand(4, 1, 28, 28, device=device), f"SmallCNN().to({device!r}) on 28x28")
    expect_shape(logits, (4, 10), f"SmallCNN logits on {device}")
    expect_device(logits, device, "SmallCNN logits", "keep every layer a registered submodule so .to() moves it")


@SmallCNN
def test_smallcnn_takes_a_batch_of_one(impl):
    model = impl.SmallCNN().eval()
    hint = ("a batch of one is still a batch: flatten(1) (or reshape(N, -1)) keeps the batch dimension, squeeze() "
            "drops it")
    for hw in ((8, 8), (28, 28)):
        with torch.no_grad():
            logits = _forward(model, torch.rand(1, 1, *hw), f"SmallCNN().eval() on a (1, 1, {hw[0]}, {hw[1]}) batch",
                              hint)
        expect_shape(logits, (1, 10), f"SmallCNN().eval()(x (1, 1, {hw[0]}, {hw[1]}))", hint)


@SmallCNN
def test_smallcnn_takes_channels_last_images(impl):
    model = impl.SmallCNN(in_channels=3, num_classes=5).eval()
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(6))
    hint = ("after a convolution on a channels_last input the feature maps are channels_last too, and view() cannot "
            "flatten them: use flatten(1) or reshape(N, -1)")
    with torch.no_grad():
        expected = _forward(model, x, "SmallCNN(in_channels=3, num_classes=5).eval() on (4, 3, 8, 8)")
        got = _forward(model, x.to(memory_format=torch.channels_last),
                       "SmallCNN(in_channels=3).eval() on a channels_last (4, 3, 8, 8) batch", hint)
    expect_close(got, expected, what="logits for a channels_last batch vs the same batch contiguous", rtol=1e-4,
                 atol=1e-5, hint=hint)


@SmallCNN
def test_smallcnn_has_at_most_100k_parameters(impl):
    model = impl.SmallCNN()
    _forward(model, torch.rand(2, 1, 8, 8), "SmallCNN() on 8x8")  # materialises any lazy layer
    count = sum(p.numel() for p in model.parameters())
    expect(count > 0, "SmallCNN() has no parameters: register the layers as attributes of the module")
    expect(count <= 100_000, f"SmallCNN() has {count:,} parameters; the budget is 100,000",
           "a few dozen channels per conv and adaptive pooling to a small grid (e.g. 2x2) before the classifier "
           "is plenty for 8x8 digits")


@SmallCNN
def test_smallcnn_is_built_from_conv_batchnorm_blocks(impl):
    model = impl.SmallCNN(num_classes=7)
    kinds = [type(m) for m in model.modules()]
    n_conv = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    expect(n_conv >= 2, f"expected at least two nn.Conv2d layers, found {n_conv}",
           "two Conv -> BatchNorm -> ReLU -> pool blocks")
    expect(n_bn >= 2, f"expected at least two nn.BatchNorm2d modules (one per block), found {n_bn}",
           "put an nn.BatchNorm2d after each convolution, before the ReLU")
    heads = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == 7]
    expect(heads, f"expected an nn.Linear classifier with out_features == num_classes (7); modules: "
                  f"{sorted({k.__name__ for k in kinds})}")


@SmallCNN
def test_smallcnn_train_and_eval_modes_differ(impl):
    model = impl.SmallCNN()
    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(3)) * 2.0 + 0.5
    model.train()
    with torch.no_grad():
        train_full, train_half = model(x)[:4], model(x[:4])
    model.eval()
    with torch.no_grad():
        eval_full, eval_half = model(x)[:4], model(x[:4])
    expect(not torch.allclose(train_full, train_half, atol=1e-4),
           "in train() mode a sample's logits did not depend on the rest of its batch",
           "BatchNorm normalises with the batch's own statistics in train(): is there a BatchNorm2d in the path?")
    expect(torch.allclose(eval_full, eval_half, atol=1e-5),
           "in eval() mode a sample's logits changed with the rest of its batch",
           "in eval() BatchNorm uses its running statistics, so each sample is processed on its own")
    expect(not torch.allclose(train_half, eval_half, atol=1e-4),
           "train() and eval() gave the same logits: BatchNorm should behave differently in the two modes")


@SmallCNN
def test_smallcnn_is_not_a_linear_map(impl):
    model = impl.SmallCNN().eval()
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(4, 1, 8, 8, generator=g), torch.randn(4, 1, 8, 8, generator=g)
    with torch.no_grad():
        fa, fb, fmid = model(a), model(b), model((a + b) / 2)
    gap = (fmid - (fa + fb) / 2).abs().max().item()
    scale = max(fa.abs().max().item(), fb.abs().max().item())
    expect(gap > 1e-3 * scale + 1e-6,
           f"in eval() mode SmallCNN is an affine map of its input: f((a + b) / 2) equals (f(a) + f(b)) / 2 to "
           f"{gap:.2g} (logits up to {scale:.2g}); a stack of convolutions, BatchNorms and average pools without "
           "a non-linearity is just one linear classifier",
           "each block is Conv -> BatchNorm -> ReLU -> pooling: is the ReLU (module or F.relu) applied, and its "
           "result used?")


def _train_until(model, *, target: float, max_epochs: int, lr: float, seed: int = 0) -> list[float]:
    """Adam, batch size 64, seeded shuffling; held-out accuracy after every epoch, stopping once it reaches
    `target` (the contract: it *reaches* the target within the recipe's at most 10 epochs)."""
    x_train, y_train = digits("train")
    x_test, y_test = digits("test")
    order = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    accs: list[float] = []
    for _ in range(max_epochs):
        model.train()
        perm = torch.randperm(len(y_train), generator=order)
        for i in range(0, len(y_train), 64):
            idx = perm[i : i + 64]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            accs.append((model(x_test).argmax(dim=1) == y_test).float().mean().item())
        if accs[-1] >= target:
            break
    return accs


@SmallCNN
def test_smallcnn_learns_digits_to_95_percent(impl):
    torch.manual_seed(0)
    model = impl.SmallCNN()
    max_epochs, lr = 10, 5e-3
    accs = _train_until(model, target=0.95, max_epochs=max_epochs, lr=lr)
    expect(max(accs) >= 0.95,
           f"in {len(accs)} epochs of Adam (lr={lr}, batch size 64) on the digits, held-out accuracy never reached "
           f"95%; after each epoch: {', '.join(f'{a:.1%}' for a in accs)}",
           "Conv(3x3, padding=1) -> BatchNorm2d -> ReLU -> MaxPool2d(2), twice (a few dozen channels), then "
           "adaptive pooling to a small grid and nn.Linear: check the ReLUs are there and nothing is frozen")


# ---------------------------------------------------------------- demo


@demo
def test_demo_quick_run_reports_sensible_numbers(impl):
    from demos.cnn import main

    result = main(impl.module, quick=True)
    expect(isinstance(result, dict), f"demos.cnn.main should return a dict, got {type(result).__name__}")
    for key in ("params", "test_accuracy", "unfold_max_abs_diff", "seconds"):
        expect(key in result, f"the demo's result lacks {key!r}; it has {sorted(result)}")
    expect(0 < result["params"] <= 100_000, f"the demo's SmallCNN has {result['params']:,} parameters; expected "
                                            "1 to 100,000")
    expect(result["unfold_max_abs_diff"] < 1e-9,
           f"conv2d_unfold differs from F.conv2d by {result['unfold_max_abs_diff']:.3g} in the demo",
           "the demo compares your conv2d_unfold with F.conv2d in float64: they should agree to ~1e-12")
    expect(0.5 <= result["test_accuracy"] <= 1.0,
           f"after the quick demo run the held-out accuracy is {result['test_accuracy']:.1%}; expected well above "
           "chance (10%), at least 50%",
           "the demo trains your SmallCNN: does it pass its own tests?")
