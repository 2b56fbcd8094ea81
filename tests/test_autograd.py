"""autograd: hand-written backward passes, checked against PyTorch's autograd in float64.

Every exercise of this topic computes a gradient by hand, so every call the tests make to one of
them runs by hand too (`by_hand`): under `torch.no_grad()`, with saved-tensor hooks that see any
graph autograd records, and with every way of asking autograd for a gradient refused
(`Tensor.backward`, `torch.autograd.grad`/`backward`/`functional`, the engine itself, `torch.func`'s
transforms, forward-mode AD). `SiLU.backward` is called directly, on the context its forward filled,
the same way; only the tests themselves use autograd, for the references.
"""

from __future__ import annotations

import pytest
import torch
import torch._functorch.eager_transforms as functorch_transforms
import torch.autograd.forward_ad
import torch.autograd.functional
import torch.autograd.graph
import torch.func
import torch.nn.functional as F
from torch.autograd.gradcheck import GradcheckError

from kata.learn.checks import (
    call_refusing,
    devices,
    expect,
    expect_close,
    expect_equal,
    expect_shape,
    expect_tensor,
    fail,
)

linear_backward = pytest.mark.exercise("linear_backward")
relu_backward = pytest.mark.exercise("relu_backward")
mse_loss_backward = pytest.mark.exercise("mse_loss_backward")
cross_entropy_backward = pytest.mark.exercise("cross_entropy_backward")
mlp_backward = pytest.mark.exercise("mlp_backward")
SiLU = pytest.mark.exercise("SiLU")
numerical_gradient = pytest.mark.exercise("numerical_gradient")
demo = pytest.mark.exercise("demo")

F64 = torch.float64
EXACT = {"rtol": 1e-9, "atol": 1e-12}  # float64 against autograd: only summation order may differ

TRANSPOSED = (
    "nn.Linear stores weight as (out, in), and its gradient has the same shape as weight: an (in, out) "
    "grad_weight is the transpose"
)


def randn(*shape, seed=0, dtype=F64, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=dtype).to(device)


def strided(t):
    """The same values as `t` in a non-contiguous layout (every other element of a wider tensor)."""
    wide = torch.zeros(*t.shape, 2, dtype=t.dtype, device=t.device)
    wide[..., 0] = t
    return wide[..., 0]


def swapped(t, dims=(0, 1)):
    """The same values as `t` through a transposed view: non-contiguous, with its two dims swapped in memory."""
    return t.transpose(*dims).contiguous().transpose(*dims)


# ---------------------------------------------------------------- by hand, without autograd

BY_HAND = (
    "every gradient of this topic is computed by hand, without autograd (no .backward(), "
    "torch.autograd.grad, torch.autograd.functional or torch.func)"
)

_FUNC_TRANSFORMS = ("grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "linearize")
AUTOGRAD_CALLS = [
    (torch.Tensor, "backward", "Tensor.backward()"),
    (torch.autograd, "backward", "torch.autograd.backward"),
    (torch.autograd, "grad", "torch.autograd.grad"),
    # the engine itself, by the names autograd's own Python code calls it through
    (torch.autograd, "_engine_run_backward", "the autograd engine (torch.autograd.grad / .backward())"),
    (torch.autograd.graph, "_engine_run_backward", "the autograd engine (torch.autograd.grad / .backward())"),
    *[(torch.autograd.functional, n, f"torch.autograd.functional.{n}")
      for n in ("vjp", "jvp", "jacobian", "hessian", "vhp", "hvp")],
    *[(torch.func, n, f"torch.func.{n}") for n in _FUNC_TRANSFORMS],
    # what torch.func's transforms run, whatever name the caller imported them under
    *[(functorch_transforms, n, f"torch.func.{n}") for n in _FUNC_TRANSFORMS if n not in ("grad", "grad_and_value")],
    (functorch_transforms, "grad_impl", "torch.func.grad"),
    (functorch_transforms, "grad_and_value_impl", "torch.func.grad_and_value"),
    (functorch_transforms, "_vjp_with_argnums", "torch.func.vjp (or jacrev, hessian)"),
    (functorch_transforms, "_jvp_with_argnums", "torch.func.jvp (or jacfwd, forward-mode AD)"),
    (torch.autograd.forward_ad, "enter_dual_level", "torch.autograd.forward_ad (dual numbers)"),
]


def by_hand(fn, *args, hint, error_hint=None, **kwargs):
    """`fn(*args, **kwargs)` where autograd records nothing and refuses to give gradients.

    Fails, naming the call, if `fn` asked autograd for a gradient (even if it caught the refusal), and
    fails if anything was saved for a backward pass (a graph was recorded, e.g. by switching grad mode
    back on and calling a `grad_fn` directly). With `error_hint`, any other error `fn` raises becomes a
    failure with that hint (the input is one the contract allows)."""
    __tracebackhide__ = True
    saved = []

    def pack(t):
        saved.append(tuple(t.shape))
        return t

    error = None
    with torch.no_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        try:
            out = call_refusing(fn, *args, rule=BY_HAND, hint=hint, attributes=AUTOGRAD_CALLS, **kwargs)
        except (NotImplementedError, AssertionError):
            raise
        except Exception as err:
            if error_hint is None:
                raise
            error = f"{type(err).__name__}: {err}"
    if error is not None:
        fail(f"raised {error}", error_hint)
    expect(not saved, f"it recorded an autograd graph ({len(saved)} tensors saved for a backward pass, shapes "
                      f"{saved[:3]}): the gradient came from autograd, but {BY_HAND}", hint)
    return out


# ---------------------------------------------------------------- linear_backward

LINEAR_BY_HAND = (
    "write the chain rule with tensor operations: grad_x = grad_out @ weight; grad_weight pairs grad_out with x "
    "and sums over every sample; grad_bias sums grad_out over every sample"
)


def scale_factor(actual, expected):
    """The median of actual / expected over entries where expected is clearly non-zero, or None."""
    if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
        return None
    keep = expected.abs() > 1e-3 * expected.abs().max()
    if not keep.any():
        return None
    return (actual.detach().to(expected.dtype)[keep] / expected[keep]).median().item()


def near(value, target):
    return value is not None and abs(value - target) <= 1e-6 * abs(target)


def explain_scale(actual, expected, known):
    """Fail with the teaching message of `known[factor]` when actual == factor * expected."""
    __tracebackhide__ = True
    factor = scale_factor(actual, expected)
    for target, message in known.items():
        if near(factor, target):
            fail(*(message if isinstance(message, tuple) else (message,)))


def mse_scale_mistakes(shape):
    numel = torch.Size(shape).numel()
    rows = shape[0] if len(shape) else 1
    known = {
        0.5: (f"mse_loss_backward is half of autograd's gradient for a {tuple(shape)} pred: the factor 2 of the "
              "square is missing.", "the derivative of u ** 2 is 2 * u"),
    }
    if numel > 1:  # with one element the mean's 1/N is 1, so leaving it out cannot show
        known[float(numel)] = (
            f"mse_loss_backward is {numel} times too large for a {tuple(shape)} pred: the 1/N of the mean is "
            f"missing (N = {numel} elements).",
            "the loss is a mean, so each element's share of it, and of its gradient, is 1/N",
        )
    if rows != numel:
        known[numel / rows] = (
            f"mse_loss_backward is {numel // rows} times too large for a {tuple(shape)} pred: it divides by the "
            f"batch size {rows} instead of the number of elements {numel}.",
            "the mean of F.mse_loss runs over every element of pred, not only over its first dimension",
        )
    return known


def autograd_linear(x, weight, bias, grad_out):
    leaves = [t.detach().clone().requires_grad_(True) if t is not None else None for t in (x, weight, bias)]
    F.linear(*leaves).backward(grad_out)
    return tuple(t.grad if t is not None else None for t in leaves)


def call_linear(impl, x, weight, bias, grad_out, error_hint=None):
    __tracebackhide__ = True
    out = by_hand(impl.linear_backward, x, weight, bias, grad_out, hint=LINEAR_BY_HAND, error_hint=error_hint)
    expect(
        isinstance(out, (tuple, list)) and len(out) == 3,
        f"linear_backward must return a tuple (grad_x, grad_weight, grad_bias), got {type(out).__name__}"
        + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""),
    )
    return out


def check_linear(impl, x, weight, bias, grad_out, case, rtol=EXACT["rtol"], atol=EXACT["atol"], hint=""):
    __tracebackhide__ = True
    ref = autograd_linear(x, weight, bias, grad_out)
    got = call_linear(impl, x, weight, bias, grad_out, error_hint=hint or None)
    expect_close(got[0], ref[0], what=f"grad_x {case}", rtol=rtol, atol=atol,
                 hint=hint or f"grad_x has the shape of x, {tuple(x.shape)}: grad_out @ weight")
    expect_close(got[1], ref[1], what=f"grad_weight {case}", rtol=rtol, atol=atol, hint=hint or TRANSPOSED)
    if bias is None:
        expect(got[2] is None, f"with bias=None, grad_bias must be None, got {type(got[2]).__name__}")
    else:
        expect_close(got[2], ref[2], what=f"grad_bias {case}", rtol=rtol, atol=atol,
                     hint=hint or "grad_bias is grad_out summed over every sample, shape (out,)")


@linear_backward
def test_linear_backward_returns_gradients_shaped_like_their_inputs(impl):
    x, weight, bias, grad_out = randn(5, 3, seed=1), randn(4, 3, seed=2), randn(4, seed=3), randn(5, 4, seed=4)
    grad_x, grad_weight, grad_bias = call_linear(impl, x, weight, bias, grad_out)
    expect_shape(grad_x, (5, 3), "grad_x", "grad_x has the shape of x, (*, in)")
    expect_shape(grad_weight, (4, 3), "grad_weight (weight is (out, in) = (4, 3))", TRANSPOSED)
    expect_shape(grad_bias, (4,), "grad_bias", "grad_bias has the shape of bias, (out,): one number per output unit")


@linear_backward
@pytest.mark.parametrize("device", devices())
def test_linear_backward_matches_autograd(impl, device):
    x, weight, bias, grad_out = (randn(6, 3, seed=1, device=device), randn(5, 3, seed=2, device=device),
                                 randn(5, seed=3, device=device), randn(6, 5, seed=4, device=device))
    got = call_linear(impl, x, weight, bias, grad_out)
    ref = autograd_linear(x, weight, bias, grad_out)
    expect_close(got[0], ref[0], what=f"grad_x on {device}", **EXACT,
                 hint="grad_out goes back through weight: (N, out) to (N, in)")
    expect_close(got[1], ref[1], what=f"grad_weight on {device}", **EXACT, hint=TRANSPOSED)
    explain_scale(got[2], ref[2], {1 / 6: ("grad_bias is 6 times too small for a batch of 6: is it averaged instead "
                                           "of summed?", "every sample adds its grad_out to the bias gradient")})
    expect_close(got[2], ref[2], what=f"grad_bias on {device}", **EXACT,
                 hint="every sample adds its grad_out to the bias gradient; create nothing on the CPU")


@linear_backward
def test_linear_backward_grad_weight_not_transposed_for_square_weight(impl):
    x, weight, bias, grad_out = randn(6, 4, seed=5), randn(4, 4, seed=6), randn(4, seed=7), randn(6, 4, seed=8)
    got = call_linear(impl, x, weight, bias, grad_out)[1]
    ref = autograd_linear(x, weight, bias, grad_out)[1]
    expect_tensor(got, "grad_weight")
    if got.shape == ref.shape and torch.allclose(got.to(F64), ref.T, **EXACT):
        fail(
            "grad_weight is the transpose of autograd's weight.grad. With a square weight the shapes agree, "
            "so only the values show it.",
            "entry [o, i] of grad_weight pairs output unit o with input feature i, as weight[o, i] does",
        )
    expect_close(got, ref, what="grad_weight (square weight)", **EXACT, hint=TRANSPOSED)


@linear_backward
def test_linear_backward_sums_bias_gradient_over_batch(impl):
    n = 8
    x, weight, bias, grad_out = randn(n, 3, seed=9), randn(2, 3, seed=10), randn(2, seed=11), randn(n, 2, seed=12)
    got = call_linear(impl, x, weight, bias, grad_out)[2]
    ref = autograd_linear(x, weight, bias, grad_out)[2]
    explain_scale(got, ref, {1 / n: (
        f"grad_bias is {n} times too small (the batch has {n} samples): is it averaged instead of summed over the "
        "batch?",
        "the bias is shared by every sample, so the sample gradients add up; any 1/N belongs to the loss, and "
        "grad_out already carries it",
    )})
    expect_close(got, ref, what="grad_bias", **EXACT, hint="grad_bias is grad_out summed over the batch dimension")


@linear_backward
def test_linear_backward_without_bias_returns_none_for_grad_bias(impl):
    x, weight, grad_out = randn(5, 3, seed=13), randn(4, 3, seed=14), randn(5, 4, seed=15)
    grad_x, grad_weight, grad_bias = call_linear(impl, x, weight, None, grad_out)
    expect(
        grad_bias is None,
        f"with bias=None, grad_bias must be None (there is no bias to update), got {type(grad_bias).__name__}",
        "check `bias is None` before computing its gradient",
    )
    ref = autograd_linear(x, weight, None, grad_out)
    expect_close(grad_x, ref[0], what="grad_x (bias=None)", **EXACT)
    expect_close(grad_weight, ref[1], what="grad_weight (bias=None)", **EXACT, hint=TRANSPOSED)


@linear_backward
def test_linear_backward_sums_over_leading_batch_dimensions(impl):
    x, weight, bias = randn(2, 3, 5, seed=16), randn(4, 5, seed=17), randn(4, seed=18)
    grad_out = randn(2, 3, 4, seed=19)
    got = call_linear(impl, x, weight, bias, grad_out)
    ref = autograd_linear(x, weight, bias, grad_out)
    leading = "x is (2, 3, 5): both leading dimensions (2 and 3) are batch dimensions, 6 samples in all"
    expect_close(got[0], ref[0], what="grad_x for 3-D x", **EXACT, hint="grad_x keeps x's shape (2, 3, 5)")
    expect_close(
        got[1], ref[1], what="grad_weight for 3-D x", **EXACT,
        hint=f"{leading}; grad_weight sums over all of them and stays (out, in) = (4, 5)",
    )
    expect_close(
        got[2], ref[2], what="grad_bias for 3-D x", **EXACT,
        hint=f"{leading}; grad_bias sums over all of them and stays (out,) = (4,)",
    )


@linear_backward
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_linear_backward_accepts_a_single_unbatched_sample(impl, bias):
    x, weight, grad_out = randn(3, seed=100), randn(4, 3, seed=101), randn(4, seed=102)
    b = randn(4, seed=103) if bias else None
    hint = ("x of shape (*, in) includes a single sample of shape (in,): no batch dimension at all. Then grad_x is "
            "(in,), grad_weight the outer product (out, in), grad_bias grad_out itself (out,); flatten the leading "
            "dimensions with reshape(-1, in), which works for none of them too (sum(dim=()) sums everything)")
    got = call_linear(impl, x, weight, b, grad_out, error_hint=hint)
    expect_shape(got[0], (3,), "grad_x for an unbatched x of shape (3,)", hint)
    expect_shape(got[1], (4, 3), "grad_weight for an unbatched x of shape (3,)", hint)
    if bias:
        expect_shape(got[2], (4,), "grad_bias for an unbatched x of shape (3,)", hint)
    check_linear(impl, x, weight, b, grad_out, "for an unbatched x of shape (3,)", hint=hint)


@linear_backward
@pytest.mark.parametrize("lead", [(1,), (1, 1), (3, 1, 2)], ids=["batch-of-one", "(1,1)", "(3,1,2)"])
def test_linear_backward_accepts_any_leading_dimensions(impl, lead):
    x, weight, bias, grad_out = (randn(*lead, 3, seed=104), randn(4, 3, seed=105), randn(4, seed=106),
                                 randn(*lead, 4, seed=107))
    check_linear(impl, x, weight, bias, grad_out, f"for x of shape {(*lead, 3)}",
                 hint="every leading dimension is a batch dimension, of size 1 too: never squeeze them away")


@linear_backward
def test_linear_backward_accepts_non_contiguous_inputs(impl):
    # x and grad_out are transposed views (their two batch dimensions swapped in memory), weight a transposed
    # view, bias every other element of a wider tensor: .view() cannot flatten them, .reshape() can
    x, grad_out = swapped(randn(2, 3, 5, seed=108)), swapped(randn(2, 3, 4, seed=109))
    weight, bias = swapped(randn(4, 5, seed=110)), strided(randn(4, seed=111))
    expect(not x.is_contiguous() and not weight.is_contiguous(), "test bug: inputs should be non-contiguous")
    check_linear(impl, x, weight, bias, grad_out, "for non-contiguous x, weight, bias and grad_out",
                 hint="inputs may be non-contiguous views (a transpose, a slice): flatten with reshape(), not "
                      "view(), which fails on them")


@linear_backward
def test_linear_backward_leaves_its_inputs_unchanged(impl):
    x, weight, bias, grad_out = randn(4, 3, seed=112), randn(2, 3, seed=113), randn(2, seed=114), randn(4, 2, seed=115)
    before = [t.clone() for t in (x, weight, bias, grad_out)]
    call_linear(impl, x, weight, bias, grad_out)
    for name, t, b in zip(("x", "weight", "bias", "grad_out"), (x, weight, bias, grad_out), before):
        expect_equal(t, b, what=f"{name} after linear_backward",
                     hint="a backward pass reads its inputs; build new tensors instead of writing into them in place")


@linear_backward
def test_linear_backward_keeps_float32(impl):
    shapes = [(5, 3), (4, 3), (4,), (5, 4)]
    x, weight, bias, grad_out = (randn(*s, seed=20 + i, dtype=torch.float32) for i, s in enumerate(shapes))
    got = call_linear(impl, x, weight, bias, grad_out)
    ref = autograd_linear(x, weight, bias, grad_out)
    for name, g, r in zip(("grad_x", "grad_weight", "grad_bias"), got, ref):
        expect_close(g, r, what=f"{name} (float32 inputs)", rtol=1e-5, atol=1e-6,
                     hint="each gradient keeps the shape and the dtype (float32) of what it is the gradient of")


# ---------------------------------------------------------------- relu_backward

RELU_BY_HAND = "grad_out where the forward input x was positive, 0 elsewhere: one tensor expression"


def autograd_relu(x, grad_out):
    leaf = x.detach().clone().requires_grad_(True)
    torch.relu(leaf).backward(grad_out)
    return leaf.grad


def call_relu(impl, x, grad_out, error_hint=None):
    __tracebackhide__ = True
    return by_hand(impl.relu_backward, x, grad_out, hint=RELU_BY_HAND, error_hint=error_hint)


@relu_backward
@pytest.mark.parametrize("device", devices())
def test_relu_backward_matches_autograd(impl, device):
    x, grad_out = randn(4, 6, seed=30, device=device), randn(4, 6, seed=31, device=device)
    ref = autograd_relu(x, grad_out)
    expect_close(
        call_relu(impl, x, grad_out), ref, what=f"relu_backward on {device}", **EXACT,
        hint="grad_out passes where the forward input was positive and is blocked (0) elsewhere",
    )


@relu_backward
def test_relu_backward_masks_by_input_not_by_grad_out(impl):
    x = torch.tensor([1.0, 2.0, -1.0, -2.0], dtype=F64)
    grad_out = torch.tensor([-3.0, 4.0, 5.0, -6.0], dtype=F64)
    got = call_relu(impl, x, grad_out)
    expected = torch.tensor([-3.0, 4.0, 0.0, 0.0], dtype=F64)
    from_grad_out = grad_out.clamp(min=0)
    if isinstance(got, torch.Tensor) and got.shape == expected.shape and torch.equal(got.to(F64), from_grad_out):
        fail(
            f"relu_backward({x.tolist()}, grad_out={grad_out.tolist()}) gave {got.tolist()}: the mask was taken from "
            "the sign of grad_out.",
            "ReLU's derivative depends on its forward input x (1 where x > 0): a negative grad_out at a positive x "
            "must pass through unchanged",
        )
    expect_equal(got, expected, what=f"relu_backward(x={x.tolist()}, grad_out={grad_out.tolist()})",
                 hint="the mask comes from x, the input of the forward pass")


@relu_backward
def test_relu_backward_is_zero_at_exactly_zero(impl):
    x = torch.tensor([-1.0, 0.0, 0.0, 2.0, -0.0], dtype=F64)
    grad_out = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=F64)
    ref = autograd_relu(x, grad_out)  # [0, 0, 0, 4, 0]: PyTorch uses 0 as relu's derivative at 0
    expect_equal(
        call_relu(impl, x, grad_out), ref, what=f"relu_backward at x={x.tolist()}",
        hint="at x == 0 PyTorch takes relu's derivative to be 0 (gradient 0 where x <= 0): the mask is x > 0",
    )


@relu_backward
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("device", devices())
def test_relu_backward_blocks_nan_and_inf_where_x_is_not_positive(impl, dtype, device):
    nan, inf = float("nan"), float("inf")
    x = torch.tensor([-1.0, 0.0, -0.0, -3.0, 0.0, 2.0, 4.0, 5.0, 6.0], dtype=dtype, device=device)
    grad_out = torch.tensor([nan, nan, inf, -inf, inf, nan, inf, -inf, 1.0], dtype=dtype, device=device)
    ref = autograd_relu(x, grad_out)  # [0, 0, 0, 0, 0, nan, inf, -inf, 1]
    expect_close(
        call_relu(impl, x, grad_out), ref, what=f"relu_backward in {dtype} with NaN and inf in grad_out",
        rtol=0, atol=0, equal_nan=True,
        hint="where x <= 0 the gradient is 0 whatever grad_out holds: grad_out * (x > 0) turns NaN * 0 and "
             "inf * 0 into NaN; select instead (torch.where, masked_fill)",
    )


@relu_backward
def test_relu_backward_leaves_its_inputs_unchanged(impl):
    x = torch.tensor([[1.0, -2.0, 0.0], [-0.5, 3.0, -4.0]], dtype=F64)
    grad_out = torch.tensor([[5.0, 6.0, -7.0], [8.0, -9.0, 10.0]], dtype=F64)
    before_x, before_grad_out = x.clone(), grad_out.clone()
    call_relu(impl, x, grad_out)
    hint = ("build a new tensor (grad_out * mask, torch.where, masked_fill without the _): zeroing grad_out or "
            "clamping x in place changes tensors the caller still uses, e.g. a residual branch's gradient")
    expect_equal(x, before_x, what="x after relu_backward", hint=hint)
    expect_equal(grad_out, before_grad_out, what="grad_out after relu_backward", hint=hint)


@relu_backward
def test_relu_backward_keeps_shape_and_dtype(impl):
    x, grad_out = randn(2, 3, 4, seed=32, dtype=torch.float32), randn(2, 3, 4, seed=33, dtype=torch.float32)
    ref = autograd_relu(x, grad_out)
    expect_close(
        call_relu(impl, x, grad_out), ref, what="relu_backward on (2, 3, 4) float32",
        rtol=0, atol=0, hint="the gradient has the shape and dtype of grad_out",
    )


@relu_backward
def test_relu_backward_any_shape_and_layout(impl):
    hint = "ReLU acts element by element: any shape works as it is, no view() or flattening needed"
    cases = {
        "a 0-dim x": (randn(seed=34), randn(seed=35)),
        "a 1-D x": (randn(7, seed=36), randn(7, seed=37)),
        "transposed (non-contiguous) x and grad_out": (swapped(randn(3, 5, seed=38)), swapped(randn(3, 5, seed=39))),
        "an expanded grad_out (stride 0)": (randn(4, 3, seed=40), randn(3, seed=41).expand(4, 3)),
    }
    for case, (x, grad_out) in cases.items():
        ref = autograd_relu(x, grad_out)
        expect_close(call_relu(impl, x, grad_out, error_hint=hint), ref, what=f"relu_backward for {case}",
                     rtol=0, atol=0, hint=hint)


# ---------------------------------------------------------------- mse_loss_backward

MSE_BY_HAND = "differentiate mean((pred - target) ** 2) on paper and write the result as one tensor expression"


def autograd_mse(pred, target):
    leaf = pred.detach().clone().requires_grad_(True)
    F.mse_loss(leaf, target).backward()
    return leaf.grad


def call_mse(impl, pred, target, error_hint=None):
    __tracebackhide__ = True
    return by_hand(impl.mse_loss_backward, pred, target, hint=MSE_BY_HAND, error_hint=error_hint)


@mse_loss_backward
@pytest.mark.parametrize("device", devices())
def test_mse_loss_backward_matches_autograd(impl, device):
    pred, target = randn(6, seed=40, device=device), randn(6, seed=41, device=device)
    ref = autograd_mse(pred, target)
    got = call_mse(impl, pred, target)
    explain_scale(got, ref, mse_scale_mistakes(pred.shape))
    expect_close(
        got, ref, what=f"mse_loss_backward on {device}", **EXACT,
        hint="differentiate mean((pred - target) ** 2) with respect to pred",
    )


@mse_loss_backward
def test_mse_loss_backward_has_the_factor_two(impl):
    pred, target = torch.tensor([3.0], dtype=F64), torch.tensor([1.0], dtype=F64)
    got = call_mse(impl, pred, target)
    expected = torch.tensor([4.0], dtype=F64)  # d/dp (p - t)^2 = 2 (p - t) = 4, and N = 1
    if isinstance(got, torch.Tensor) and got.shape == (1,) and got.item() == 2.0:
        fail(
            "mse_loss_backward(pred=[3.], target=[1.]) gave [2.], expected [4.]: the factor 2 is missing.",
            "the derivative of a square u ** 2 is 2 * u (and with one element the mean changes nothing)",
        )
    expect_close(got, expected, what="mse_loss_backward(pred=[3.], target=[1.])", **EXACT,
                 hint="the derivative of (pred - target) ** 2 is 2 * (pred - target)")


@mse_loss_backward
def test_mse_loss_backward_divides_by_the_number_of_elements(impl):
    pred, target = randn(4, 5, seed=42), randn(4, 5, seed=43)
    ref = autograd_mse(pred, target)
    got = call_mse(impl, pred, target)
    explain_scale(got, ref, mse_scale_mistakes(pred.shape))
    expect_close(got, ref, what="mse_loss_backward for (4, 5) pred", **EXACT,
                 hint="2 * (pred - target) divided by the number of elements of pred")


@mse_loss_backward
def test_mse_loss_backward_handles_multi_dimensional_pred(impl):
    pred, target = randn(2, 3, 4, seed=44), randn(2, 3, 4, seed=45)
    ref = autograd_mse(pred, target)
    got = call_mse(impl, pred, target)
    explain_scale(got, ref, mse_scale_mistakes(pred.shape))
    expect_close(
        got, ref, what="mse_loss_backward for (2, 3, 4) pred",
        **EXACT, hint="the gradient has pred's shape, and the mean runs over all 24 elements",
    )


@mse_loss_backward
def test_mse_loss_backward_any_shape_and_layout(impl):
    cases = {
        "a 0-dim pred (a single number)": (randn(seed=116), randn(seed=117)),
        "a (1, 1) pred": (randn(1, 1, seed=118), randn(1, 1, seed=119)),
        "transposed (non-contiguous) pred and target": (swapped(randn(3, 4, seed=120)), swapped(randn(3, 4, seed=121))),
        "a strided pred and an expanded target": (strided(randn(2, 5, seed=122)), randn(5, seed=123).expand(2, 5)),
    }
    hint = ("pred may have any shape, a 0-dim one too, and any layout: N is pred.numel(), and the gradient is one "
            "element-wise expression (no len(pred), no view())")
    for case, (pred, target) in cases.items():
        ref = autograd_mse(pred, target)
        got = call_mse(impl, pred, target, error_hint=hint)
        explain_scale(got, ref, mse_scale_mistakes(pred.shape))
        expect_close(got, ref, what=f"mse_loss_backward for {case}", **EXACT, hint=hint)


@mse_loss_backward
def test_mse_loss_backward_leaves_its_inputs_unchanged(impl):
    pred, target = randn(3, 4, seed=124), randn(3, 4, seed=125)
    before_pred, before_target = pred.clone(), target.clone()
    call_mse(impl, pred, target)
    hint = "compute (pred - target) as a new tensor: pred -= target or pred.sub_(target) overwrites the caller's pred"
    expect_equal(pred, before_pred, what="pred after mse_loss_backward", hint=hint)
    expect_equal(target, before_target, what="target after mse_loss_backward", hint=hint)


@mse_loss_backward
def test_mse_loss_backward_keeps_float32(impl):
    pred, target = randn(3, 2, seed=46, dtype=torch.float32), randn(3, 2, seed=47, dtype=torch.float32)
    ref = autograd_mse(pred, target)
    expect_close(call_mse(impl, pred, target), ref,
                 what="mse_loss_backward (float32)", rtol=1e-5, atol=1e-7, hint="keep the dtype of pred")


# ---------------------------------------------------------------- cross_entropy_backward

CE_BY_HAND = ("softmax(logits) minus the one-hot targets, divided by N, with a softmax that cannot overflow: "
              "tensor operations only")


def autograd_cross_entropy(logits, targets):
    leaf = logits.detach().clone().requires_grad_(True)
    F.cross_entropy(leaf, targets).backward()
    return leaf.grad


def targets_for(n, c, seed, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, c, (n,), generator=gen, dtype=torch.int64).to(device)


def call_ce(impl, logits, targets, error_hint=None):
    __tracebackhide__ = True
    return by_hand(impl.cross_entropy_backward, logits, targets, hint=CE_BY_HAND, error_hint=error_hint)


@cross_entropy_backward
@pytest.mark.parametrize("device", devices())
def test_cross_entropy_backward_matches_autograd(impl, device):
    logits, targets = randn(5, 7, seed=50, device=device), targets_for(5, 7, seed=51, device=device)
    ref = autograd_cross_entropy(logits, targets)
    got = call_ce(impl, logits, targets)
    explain_scale(got, ref, {5.0: "cross_entropy_backward is 5 times too large for a batch of 5: the 1/N of the "
                                  "mean reduction is missing."})
    expect_close(got, ref, what=f"cross_entropy_backward on {device}", **EXACT,
                 hint="the gradient is softmax(logits) minus the one-hot targets, over the batch size")


@cross_entropy_backward
def test_cross_entropy_backward_rows_sum_to_zero(impl):
    logits, targets = randn(4, 6, seed=52), targets_for(4, 6, seed=53)
    got = call_ce(impl, logits, targets)
    expect_shape(got, (4, 6), "cross_entropy_backward", "one gradient per logit: (N, C)")
    sums = got.detach().to(F64).sum(dim=1)
    expect(
        torch.allclose(sums, torch.zeros_like(sums), atol=1e-12),
        f"each row of the gradient should sum to 0 (softmax sums to 1, the one-hot target too), got row sums "
        f"{[round(s, 6) for s in sums.tolist()]}",
        "subtract 1 at each row's target class, from the softmax probabilities",
    )


@cross_entropy_backward
def test_cross_entropy_backward_averages_over_the_batch(impl):
    n = 6
    logits, targets = randn(n, 3, seed=54), targets_for(n, 3, seed=55)
    ref = autograd_cross_entropy(logits, targets)
    got = call_ce(impl, logits, targets)
    explain_scale(got, ref, {float(n): (
        f"cross_entropy_backward is {n} times too large for a batch of {n}: the 1/N of the mean reduction is missing.",
        "F.cross_entropy averages the per-sample losses, so each sample's gradient is divided by N",
    )})
    expect_close(got, ref, what=f"cross_entropy_backward (batch of {n})", **EXACT,
                 hint="mean reduction: divide by the batch size N")


@cross_entropy_backward
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_cross_entropy_backward_is_finite_for_huge_logits(impl, dtype):
    logits, targets = randn(6, 5, seed=56, dtype=dtype) * 1e4, targets_for(6, 5, seed=57)
    ref = autograd_cross_entropy(logits, targets)
    got = call_ce(impl, logits, targets)
    overflow = (
        "exp(1e4) overflows to inf (above ~89 in float32, ~709 in float64) and inf / inf is NaN: subtract each "
        "row's maximum from the logits before exp, which leaves the softmax unchanged"
    )
    expect_close(got, ref, what=f"cross_entropy_backward for logits of magnitude 1e4 ({dtype})",
                 rtol=1e-5, atol=1e-7, hint=overflow)


@cross_entropy_backward
def test_cross_entropy_backward_when_the_last_classes_are_never_targets(impl):
    logits = randn(4, 6, seed=126)
    targets = torch.tensor([0, 2, 1, 2])  # classes 3, 4 and 5 appear in no row
    hint = ("the number of classes is logits.shape[1], not targets.max() + 1: F.one_hot(targets) alone guesses it "
            "from the targets; pass num_classes=C (or index with (torch.arange(N), targets))")
    ref = autograd_cross_entropy(logits, targets)
    got = call_ce(impl, logits, targets, error_hint=hint)
    expect_close(got, ref, what="cross_entropy_backward with targets [0, 2, 1, 2] and C = 6 classes", **EXACT,
                 hint=hint)


@cross_entropy_backward
def test_cross_entropy_backward_any_batch_and_layout(impl):
    cases = {
        "a batch of one": (randn(1, 4, seed=127), torch.tensor([2])),
        "transposed (non-contiguous) logits": (swapped(randn(5, 3, seed=128)), targets_for(5, 3, seed=129)),
        "every other target of a longer tensor (strided targets)": (randn(4, 3, seed=130),
                                                                   targets_for(8, 3, seed=131)[::2]),
    }
    hint = ("logits may be a non-contiguous view and targets strided: reshape() copies such a tensor, so "
            "subtracting the one-hot in place from a reshaped copy is lost; index the (N, C) result itself with "
            "(torch.arange(N), targets)")
    for case, (logits, targets) in cases.items():
        ref = autograd_cross_entropy(logits, targets)
        expect_close(call_ce(impl, logits, targets, error_hint=hint), ref, what=f"cross_entropy_backward for {case}",
                     **EXACT, hint=hint)


@cross_entropy_backward
def test_cross_entropy_backward_leaves_its_inputs_unchanged(impl):
    logits, targets = randn(4, 5, seed=58), targets_for(4, 5, seed=59)
    before, before_targets = logits.clone(), targets.clone()
    call_ce(impl, logits, targets)
    expect_equal(logits, before, what="logits after cross_entropy_backward",
                 hint="work on new tensors (logits - max is one): never subtract in place from the caller's logits")
    expect_equal(targets, before_targets, what="targets after cross_entropy_backward")


# ---------------------------------------------------------------- mlp_backward


def mlp_case(seed, n=6, d=5, h=7, c=4, device="cpu", logit_scale=1.0):
    x = randn(n, d, seed=seed, device=device)
    targets = targets_for(n, c, seed=seed + 1, device=device)
    params = {
        "w1": randn(h, d, seed=seed + 2, device=device),
        "b1": randn(h, seed=seed + 3, device=device),
        "w2": randn(c, h, seed=seed + 4, device=device) * logit_scale,
        "b2": randn(c, seed=seed + 5, device=device),
    }
    return x, targets, params


def autograd_mlp(x, targets, params):
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    h = torch.relu(F.linear(x, leaves["w1"], leaves["b1"]))
    F.cross_entropy(F.linear(h, leaves["w2"], leaves["b2"]), targets).backward()
    return {k: v.grad for k, v in leaves.items()}


MLP_HINT = (
    "run the layers backwards: cross-entropy gives grad_logits, the second linear layer gives grad_w2, "
    "grad_b2 and grad_h, the ReLU masks grad_h with z1 > 0, and the first linear layer gives grad_w1, grad_b1"
)


def call_mlp(impl, x, targets, params):
    __tracebackhide__ = True
    grads = by_hand(impl.mlp_backward, x, targets, params["w1"], params["b1"], params["w2"], params["b2"],
                    hint="compute the gradients by hand with your backward functions: " + MLP_HINT)
    expect(isinstance(grads, dict), f"mlp_backward must return a dict of gradients, got {type(grads).__name__}")
    missing = [k for k in ("w1", "b1", "w2", "b2") if k not in grads]
    expect(not missing, f"mlp_backward's dict lacks the keys {missing} (it has {sorted(map(str, grads))})",
           'return {"w1": ..., "b1": ..., "w2": ..., "b2": ...}')
    return grads


@mlp_backward
def test_mlp_backward_returns_one_gradient_per_parameter(impl):
    x, targets, params = mlp_case(60)
    grads = call_mlp(impl, x, targets, params)
    for name, p in params.items():
        expect_shape(grads[name], p.shape, f'grads["{name}"]', f"each gradient has the shape of its parameter {name}")


@mlp_backward
@pytest.mark.parametrize("device", devices())
def test_mlp_backward_matches_autograd(impl, device):
    x, targets, params = mlp_case(61, device=device)
    grads = call_mlp(impl, x, targets, params)
    ref = autograd_mlp(x, targets, params)
    for name in ("w2", "b2", "w1", "b1"):  # the order the backward pass produces them
        expect_close(grads[name], ref[name], what=f'grads["{name}"] on {device}', **EXACT, hint=MLP_HINT)


@mlp_backward
def test_mlp_backward_computes_by_hand_without_autograd(impl):
    x, targets, params = mlp_case(62)
    ref = autograd_mlp(x, targets, params)
    with torch.inference_mode():  # the strictest regime: nothing created here can ever join a graph
        grads = call_mlp(impl, x, targets, params)
    for name in ("w2", "b2", "w1", "b1"):
        expect_close(grads[name], ref[name], what=f'grads["{name}"] under inference_mode', **EXACT, hint=MLP_HINT)


@mlp_backward
def test_mlp_backward_leaves_its_inputs_unchanged(impl):
    x, targets, params = mlp_case(63)
    before = {"x": x.clone(), "targets": targets.clone(), **{k: v.clone() for k, v in params.items()}}
    call_mlp(impl, x, targets, params)
    after = {"x": x, "targets": targets, **params}
    for name, t in before.items():
        expect_equal(after[name], t, what=f"{name} after mlp_backward",
                     hint="a backward pass reads the parameters; updating them is the optimizer's job")


@mlp_backward
def test_mlp_backward_blocks_the_gradient_where_the_pre_activation_is_exactly_zero(impl):
    x, targets, params = mlp_case(65)
    params["w1"][2] = 0.0  # hidden unit 2: z1 = 0 * x + 0 = 0 exactly, for every sample
    params["b1"][2] = 0.0
    grads = call_mlp(impl, x, targets, params)
    ref = autograd_mlp(x, targets, params)  # relu'(0) = 0: unit 2 gets no gradient at all
    hint = ("the ReLU mask is z1 > 0: where the pre-activation is exactly 0 the gradient is blocked, as in "
            "PyTorch (z1 >= 0 lets it through)")
    for name in ("w1", "b1"):
        expect_close(grads[name], ref[name], what=f'grads["{name}"] with a hidden unit whose z1 is exactly 0',
                     **EXACT, hint=hint)


@mlp_backward
def test_mlp_backward_is_finite_for_large_logits(impl):
    x, targets, params = mlp_case(64, logit_scale=1e4)
    grads = call_mlp(impl, x, targets, params)
    ref = autograd_mlp(x, targets, params)
    for name in ("w2", "b2", "w1", "b1"):
        expect_close(grads[name], ref[name], what=f'grads["{name}"] with logits of magnitude ~1e4',
                     rtol=1e-7, atol=1e-9, hint="the cross-entropy gradient must not overflow: use the stable softmax")


# ---------------------------------------------------------------- SiLU

SILU_DERIVATIVE = (
    "by the product rule d/dx [x * sigmoid(x)] = sigmoid(x) + x * sigmoid'(x), with "
    "sigmoid'(x) = sigmoid(x) * (1 - sigmoid(x)): both terms are needed"
)
SILU_BY_HAND = ("SiLU.backward is the hand-written part: multiply grad_out by silu's derivative at the saved x, "
                "with tensor operations only. " + SILU_DERIVATIVE)


def autograd_silu(x, grad_out):
    leaf = x.detach().clone().requires_grad_(True)
    F.silu(leaf).backward(grad_out)
    return leaf.grad


def silu_forward(impl, x):
    """impl.silu(x) with autograd's gradient calls refused (forward computes a value, no gradient)."""
    __tracebackhide__ = True
    return call_refusing(impl.silu, x, rule=BY_HAND, hint=SILU_BY_HAND, attributes=AUTOGRAD_CALLS)


def silu_grad(impl, x, grad_out, error_hint=None):
    """SiLU.backward called directly, by hand, on the context that SiLU.apply's forward filled."""
    __tracebackhide__ = True
    leaf = x.detach().clone().requires_grad_(True)
    out = call_refusing(impl.SiLU.apply, leaf, rule=BY_HAND, hint=SILU_BY_HAND, attributes=AUTOGRAD_CALLS)
    expect_tensor(out, "SiLU.apply(x)")
    expect(out.grad_fn is not None, "SiLU.apply(x) of an x that requires grad must require grad too",
           "return the result of the computation from forward; apply connects it to the graph through SiLU.backward")
    grad = by_hand(impl.SiLU.backward, out.grad_fn, grad_out, hint=SILU_BY_HAND, error_hint=error_hint)
    if isinstance(grad, (tuple, list)) and len(grad) == 1:  # one gradient per input of forward
        grad = grad[0]
    return grad


@SiLU
def test_silu_is_an_autograd_function_that_silu_applies(impl):
    expect(
        isinstance(impl.SiLU, type) and issubclass(impl.SiLU, torch.autograd.Function),
        f"SiLU must be a subclass of torch.autograd.Function, got {impl.SiLU!r}",
        "class SiLU(torch.autograd.Function) with static forward(ctx, x) and backward(ctx, grad_out)",
    )
    x, grad_out = randn(5, seed=76), randn(5, seed=77)
    ref = autograd_silu(x, grad_out)
    leaf = x.clone().requires_grad_(True)
    out = silu_forward(impl, leaf)
    expect_tensor(out, "silu(x)")
    expect(out.requires_grad, "silu(x) of an x that requires grad must require grad too (use SiLU.apply)",
           "silu(x) is SiLU.apply(x); apply connects the result to the graph through SiLU.backward")
    out.backward(grad_out)  # through autograd's engine, as a training loop would
    hint = "silu(x) is SiLU.apply(x): the gradient must come from SiLU.backward"
    if type(out.grad_fn).__name__ == f"{impl.SiLU.__name__}Backward":  # the last step of silu(x) was SiLU.apply
        hint = f"silu(x) does go through SiLU.apply, so SiLU.backward's formula is what is off: {SILU_DERIVATIVE}"
    expect_close(leaf.grad, ref, what="x.grad after silu(x).backward(grad_out)", **EXACT, hint=hint)


@SiLU
def test_silu_forward_matches_torch(impl):
    x = randn(3, 4, seed=70) * 3
    expect_close(silu_forward(impl, x), F.silu(x), what="silu(x)", **EXACT, hint="silu(x) = x * sigmoid(x)")


@SiLU
def test_silu_backward_matches_autograd(impl):
    x, grad_out = randn(3, 4, seed=71) * 3, randn(3, 4, seed=72)
    ref = autograd_silu(x, grad_out)
    expect_close(silu_grad(impl, x, grad_out), ref,
                 what="SiLU.backward(ctx, grad_out)", **EXACT, hint=SILU_DERIVATIVE)


@SiLU
def test_silu_passes_gradcheck(impl):
    x = (randn(2, 5, seed=73) * 2).requires_grad_(True)
    try:
        torch.autograd.gradcheck(impl.silu, (x,), eps=1e-6, atol=1e-5, rtol=1e-3)
    except GradcheckError as err:
        fail(f"torch.autograd.gradcheck(silu, float64 x) failed: SiLU.backward disagrees with finite "
             f"differences of SiLU.forward.\n    {str(err).splitlines()[0]}", SILU_DERIVATIVE)


@SiLU
def test_silu_is_finite_for_large_inputs(impl):
    x = torch.tensor([-1000.0, -100.0, -30.0, 30.0, 100.0, 1000.0], dtype=F64)
    hint = "compute sigmoid with torch.sigmoid: exp(x) / (1 + exp(x)) is inf / inf = NaN for large x"
    expect_close(silu_forward(impl, x), F.silu(x), what=f"silu({x.tolist()})", **EXACT, hint=hint)
    grad_out = torch.ones_like(x)
    ref = autograd_silu(x, grad_out)
    expect_close(silu_grad(impl, x, grad_out), ref, what=f"silu's gradient at {x.tolist()}",
                 **EXACT, hint=hint)


@SiLU
def test_silu_keeps_shape_and_dtype(impl):
    x, grad_out = randn(2, 3, 4, seed=74, dtype=torch.float32), randn(2, 3, 4, seed=75, dtype=torch.float32)
    expect_close(silu_forward(impl, x), F.silu(x), what="silu(x) for (2, 3, 4) float32", rtol=1e-5, atol=1e-6)
    ref = autograd_silu(x, grad_out)
    expect_close(silu_grad(impl, x, grad_out), ref, what="silu's gradient for float32",
                 rtol=1e-5, atol=1e-6, hint="backward returns one gradient shaped like x")


@SiLU
def test_silu_backward_takes_any_shape_and_layout(impl):
    hint = ("grad_out may be an expanded view (loss.sum().backward() sends ones through one shared element) or "
            "non-contiguous: compute grad_out * derivative as a new tensor, never in place into grad_out")
    cases = {
        "a 0-dim x": (randn(seed=132), randn(seed=133)),
        "transposed (non-contiguous) x and grad_out": (swapped(randn(3, 4, seed=134)), swapped(randn(3, 4, seed=135))),
        "an expanded grad_out (stride 0)": (randn(2, 3, seed=136), torch.ones((), dtype=F64).expand(2, 3)),
    }
    for case, (x, grad_out) in cases.items():
        before, ref = grad_out.clone(), autograd_silu(x, grad_out)
        expect_close(silu_grad(impl, x, grad_out, error_hint=hint), ref, what=f"SiLU.backward for {case}",
                     **EXACT, hint=hint)
        expect_equal(grad_out, before, what=f"grad_out after SiLU.backward ({case})", hint=hint)


@SiLU
def test_silu_sum_backward_through_the_engine(impl):
    x = randn(3, 4, seed=137) * 2
    leaf = x.clone().requires_grad_(True)
    out = silu_forward(impl, leaf)
    expect_tensor(out, "silu(x)")
    try:
        out.sum().backward()  # autograd hands SiLU.backward an expanded tensor of ones
    except RuntimeError as err:
        fail(f"silu(x).sum().backward() raised RuntimeError: {err}",
             "sum()'s backward gives grad_out as ones expanded from one element: write no result into grad_out")
    expect_close(leaf.grad, autograd_silu(x, torch.ones_like(x)), what="x.grad after silu(x).sum().backward()",
                 **EXACT, hint=SILU_DERIVATIVE)
    expect_equal(leaf.detach(), x, what="x after silu(x).sum().backward()",
                 hint="forward and backward read x; a sigmoid_() or mul_() on it changes the caller's tensor")


# ---------------------------------------------------------------- numerical_gradient

NUMERICAL_BY_HAND = ("finite differences only: evaluate f at x + eps * e_i and x - eps * e_i, one element i at a "
                     "time, and divide the difference by 2 * eps")


def cube_sum(x):
    return (x**3).sum()


def call_numerical(impl, f, x, error_hint=None, **kwargs):
    __tracebackhide__ = True
    return by_hand(impl.numerical_gradient, f, x, hint=NUMERICAL_BY_HAND, error_hint=error_hint, **kwargs)


@numerical_gradient
@pytest.mark.parametrize("device", devices())
def test_numerical_gradient_matches_autograd(impl, device):
    x = randn(3, 4, seed=80, device=device)

    def f(t):
        return (t.sin() * t).sum() + (t[0] * t[1]).sum()

    leaf = x.clone().requires_grad_(True)
    f(leaf).backward()
    expect_close(call_numerical(impl, f, x), leaf.grad, what=f"numerical_gradient of a (3, 4) x on {device}",
                 rtol=1e-6, atol=1e-7, hint="one pair of evaluations per element: nudge element i up and down by eps")


@numerical_gradient
def test_numerical_gradient_has_the_shape_of_x(impl):
    x = randn(2, 3, seed=81)
    got = call_numerical(impl, lambda t: (t**2).sum(), x)
    expect_shape(got, (2, 3), "numerical_gradient of a (2, 3) x", "one partial derivative per element of x")
    expect_close(got, 2 * x, what="numerical_gradient of sum(x ** 2)", rtol=1e-6, atol=1e-7)


@numerical_gradient
def test_numerical_gradient_uses_central_differences(impl):
    eps = 1e-3
    x = torch.linspace(0.5, 2.0, 6, dtype=F64)
    got = call_numerical(impl, cube_sum, x, eps=eps)
    exact = 3 * x**2
    forward = exact + 3 * x * eps + eps**2  # ((x + eps)^3 - x^3) / eps
    is_tensor = isinstance(got, torch.Tensor) and got.shape == x.shape
    if is_tensor and torch.allclose(got.to(F64), forward, rtol=0, atol=1e-8):
        fail(
            f"numerical_gradient of sum(x ** 3) with eps={eps} is off by 3 * x * eps (up to {3 * 2.0 * eps:.0e}): "
            "these are forward differences (f(x + eps) - f(x)) / eps.",
            "forward differences err by O(eps); central differences (f(x + eps) - f(x - eps)) / (2 * eps) "
            "cancel that term and err by O(eps ** 2)",
        )
    expect_close(got, exact, what=f"numerical_gradient of sum(x ** 3) with eps={eps}", rtol=0, atol=1e-5,
                 hint="central differences: (f(x + eps) - f(x - eps)) / (2 * eps), an error of O(eps ** 2)")


@numerical_gradient
def test_numerical_gradient_uses_the_given_eps(impl):
    eps = 0.1
    x = torch.tensor([-1.0, 0.5, 2.0], dtype=F64)
    got = call_numerical(impl, cube_sum, x, eps=eps)
    expected = 3 * x**2 + eps**2  # ((x + eps)^3 - (x - eps)^3) / (2 eps), exactly
    expect_close(got, expected, what=f"numerical_gradient of sum(x ** 3) with eps={eps}", rtol=0, atol=1e-9,
                 hint=f"the step is the eps argument: central differences of x ** 3 with eps={eps} give 3 x^2 + eps^2")


@numerical_gradient
def test_numerical_gradient_default_eps_is_accurate(impl):
    x = torch.tensor([-1.5, -0.25, 0.75, 1.25], dtype=F64)
    got = call_numerical(impl, lambda t: (t**2).sum(), x)
    expect_close(got, 2 * x, what="numerical_gradient of sum(x ** 2) with the default eps", rtol=0, atol=1e-7,
                 hint="default eps=1e-6 with central differences is exact for a quadratic up to rounding")


@numerical_gradient
def test_numerical_gradient_leaves_x_unchanged(impl):
    x = randn(3, 4, seed=82) / 3
    before = x.clone()
    got = call_numerical(impl, lambda t: (t**3).sum(), x)
    expect_equal(
        x, before, what="x after numerical_gradient (bit for bit)",
        hint="nudging x in place and undoing it with -= eps does not restore it exactly (rounding): perturb a copy",
    )
    expect_close(got, 3 * before**2, what="numerical_gradient of sum(x ** 3)", rtol=1e-6, atol=1e-7)


@numerical_gradient
def test_numerical_gradient_accepts_f_returning_a_float(impl):
    x = torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=F64)
    got = call_numerical(impl, lambda t: float((t**2).sum()), x)
    expect_close(got, 2 * x, what="numerical_gradient of f returning a Python float", rtol=1e-6, atol=1e-7,
                 hint="f may return a float or a 0-dim tensor: float(f(...)) handles both")


@numerical_gradient
def test_numerical_gradient_any_shape_and_layout(impl):
    weights = randn(3, 4, seed=138)

    def weighted(t):  # a different partial derivative for every element, so a misplaced entry shows
        return (weights * t**2).sum() if t.dim() == 2 else (t**3).sum()

    hint = ("x may be 0-dim or a non-contiguous view: clone() keeps a transposed layout, so view(-1) on the clone "
            "fails; perturb a contiguous copy (x.contiguous().clone(), or x.reshape(-1).clone()) and return the "
            "gradient in x's shape, each entry in x's own position")
    cases = {
        "a 0-dim x": torch.tensor(1.5, dtype=F64),
        "a transposed (non-contiguous) x": swapped(randn(3, 4, seed=139)),
        "a strided x": strided(randn(3, 4, seed=140)),
    }
    for case, x in cases.items():
        before = x.clone()
        expected = 2 * weights * x if x.dim() == 2 else 3 * x**2
        expect_close(call_numerical(impl, weighted, x, error_hint=hint), expected,
                     what=f"numerical_gradient for {case}", rtol=1e-6, atol=1e-7, hint=hint)
        expect_equal(x, before, what=f"x after numerical_gradient ({case})", hint=hint)


# ---------------------------------------------------------------- demo


@demo
def test_demo_hand_gradients_agree_with_autograd_and_train(impl):
    from demos.autograd import main

    result = main(impl.module, quick=True)
    expect(isinstance(result, dict), f"the demo should return a dict of headline numbers, got {type(result).__name__}")
    expect(result["max_abs_diff"] < 1e-10,
           f"in the demo, mlp_backward differs from autograd by up to {result['max_abs_diff']:.2e} (float64)",
           "run the demo (python -m exercises.autograd) and look at which parameter disagrees")
    expect(result["numerical_max_abs_diff"] < 1e-6,
           f"in the demo, central differences and mlp_backward disagree by {result['numerical_max_abs_diff']:.2e}")
    expect(result["loss_after"] < result["loss_before"],
           f"SGD with the hand gradients did not lower the test loss ({result['loss_before']:.4f} -> "
           f"{result['loss_after']:.4f})", "the update is param -= lr * grad: check the gradients' signs")
