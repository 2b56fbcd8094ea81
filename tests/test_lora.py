"""Tests of the lora topic: LoRALinear, apply_lora, the adapter's state dict, merging for deployment.

Every check is on behaviour the contract fixes: the attribute names lora_A / lora_B, the flag
`merged`, the formula base(x) + (dropout(x) @ A.T @ B.T) * alpha / r, and what the functions
do to a model. The layer's own name for its base is never used: the tests keep a reference to
the nn.Linear they pass in.
"""

from __future__ import annotations

import copy
import io
import math
import time

import pytest
import torch
from torch import nn

from kata.learn.checks import (
    expect,
    expect_close,
    expect_device,
    expect_dtype,
    expect_equal,
    expect_raises,
    expect_shape,
    fail,
)

LoRALinear = pytest.mark.exercise("LoRALinear")
apply_lora = pytest.mark.exercise("apply_lora")
lora_state_dict = pytest.mark.exercise("lora_state_dict")
merge_lora = pytest.mark.exercise("merge_lora")
demo = pytest.mark.exercise("demo")

F64 = torch.float64


# ---------------------------------------------------------------- helpers


def _linear(in_features: int, out_features: int, *, seed: int = 0, dtype=F64, bias: bool = True) -> nn.Linear:
    """A 'pretrained' nn.Linear with seeded weights of order 1."""
    g = torch.Generator().manual_seed(seed)
    layer = nn.Linear(in_features, out_features, bias=bias, dtype=dtype)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(out_features, in_features, generator=g, dtype=F64) / math.sqrt(in_features))
        if bias:
            layer.bias.copy_(torch.randn(out_features, generator=g, dtype=F64))
    return layer


def _x(*shape: int, seed: int = 1, dtype=F64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64).to(dtype)


def _train_lora(layer: nn.Module, seed: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Pretend training happened: give lora_A and lora_B seeded non-zero values; return copies."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.lora_A.copy_(torch.randn(layer.lora_A.shape, generator=g, dtype=F64))
        layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=g, dtype=F64))
    return layer.lora_A.detach().to(F64, copy=True), layer.lora_B.detach().to(F64, copy=True)


def _reference(x, weight, bias, A, B, alpha, r):
    """The LoRA formula written out, without dropout."""
    return x @ weight.T + bias + (x @ A.T @ B.T) * (alpha / r)


def _lora_factor_ratio(got, x, weight, bias, A, B, alpha, r) -> str:
    """When a LoRA output is off, say by which factor the low-rank term is off."""
    term = (x @ A.T @ B.T).flatten()
    delta = (got.detach() - (x @ weight.T + bias)).flatten()
    factor = (delta @ term / (term @ term)).item()
    return f"the low-rank term came out {factor:.4g} times x @ A.T @ B.T; expected alpha / r = {alpha / r:.4g}"


class _Attention(nn.Module):
    """An attention-like block: projections named as in real models, plus look-alike names."""

    def __init__(self, d: int):
        super().__init__()
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        self.q_proj_extra = nn.Linear(d, d)  # contains "q_proj" but is not named q_proj
        self.not_v_proj = nn.Linear(d, d)  # ends with "v_proj" but is not named v_proj
        self.norm = nn.LayerNorm(d)

    def forward(self, x):
        gate = torch.tanh(self.q_proj(x) * self.k_proj(x))
        return self.norm(x + gate * self.v_proj(x) + 0.5 * self.q_proj_extra(x) - 0.5 * self.not_v_proj(x))


class _Net(nn.Module):
    def __init__(self, d_in: int = 5, d: int = 6, n_out: int = 3, n_blocks: int = 2):
        super().__init__()
        self.embed = nn.Linear(d_in, d)
        self.blocks = nn.ModuleList(_Attention(d) for _ in range(n_blocks))
        self.v_proj = nn.Linear(d, d)  # a target at the top level, path "v_proj"
        self.head = nn.Linear(d, n_out)

    def forward(self, x):
        h = self.embed(x)
        for block in self.blocks:
            h = block(h)
        return self.head(torch.relu(self.v_proj(h)))


TARGET_PATHS = ["blocks.0.q_proj", "blocks.0.v_proj", "blocks.1.q_proj", "blocks.1.v_proj", "v_proj"]
OTHER_LINEAR_PATHS = ["embed", "head"] + [
    f"blocks.{i}.{n}" for i in range(2) for n in ("k_proj", "q_proj_extra", "not_v_proj")
]


def _net(seed: int = 0) -> _Net:
    torch.manual_seed(seed)
    return _Net().to(F64)


def _lora_layers(impl, model) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if isinstance(m, impl.LoRALinear)}


# ---------------------------------------------------------------- LoRALinear


@LoRALinear
def test_lora_linear_output_equals_base_output_at_init(impl):
    base = _linear(7, 5)
    x = _x(4, 7)
    expected = base(x).detach()
    layer = impl.LoRALinear(base, r=3, alpha=6.0)
    expect(isinstance(layer, nn.Module), f"LoRALinear should be an nn.Module, got {type(layer).__name__}")
    expect_equal(
        layer(x), expected, what="LoRALinear(base)(x) before any training",
        hint="lora_B starts at zeros so that the adapted model computes exactly what the pretrained one did; "
        "is lora_B initialised randomly?",
    )


@LoRALinear
def test_lora_linear_factor_shapes(impl):
    layer = impl.LoRALinear(_linear(7, 5), r=3)
    for name, shape in (("lora_A", (3, 7)), ("lora_B", (5, 3))):
        p = getattr(layer, name, None)
        expect(isinstance(p, nn.Parameter), f"{name} should be an nn.Parameter, got {type(p).__name__}",
               "register the factors as nn.Parameter so the optimiser and state_dict see them")
        expect_shape(p, shape, f"{name} of LoRALinear(Linear(in=7, out=5), r=3)",
                     "A maps in_features down to r: (r, in); B maps r up to out_features: (out, r)")


@LoRALinear
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16], ids=["float64", "bfloat16"])
def test_lora_linear_factors_take_the_dtype_of_base_weight(impl, dtype):
    layer = impl.LoRALinear(_linear(6, 4, dtype=dtype), r=2)
    for name in ("lora_A", "lora_B"):
        expect_dtype(getattr(layer, name), dtype, f"{name} of a LoRALinear around a {dtype} nn.Linear",
                     "create the factors with dtype=base.weight.dtype (and device=base.weight.device)")
    expect_dtype(layer(_x(3, 6, dtype=dtype)), dtype, f"LoRALinear output for a {dtype} base and {dtype} input")


@LoRALinear
def test_lora_linear_default_rank_and_alpha(impl):
    base = _linear(10, 4)
    weight, bias = base.weight.detach().clone(), base.bias.detach().clone()
    layer = impl.LoRALinear(base)
    expect_shape(layer.lora_A, (8, 10), "lora_A with the default rank", "the default is r=8")
    A, B = _train_lora(layer)
    x = _x(3, 10)
    got = layer(x)
    expect_close(got, _reference(x, weight, bias, A, B, 16.0, 8), what="LoRALinear(base) output with defaults",
                 rtol=1e-10, atol=1e-10,
                 hint="the defaults are r=8, alpha=16.0; " + _lora_factor_ratio(got, x, weight, bias, A, B, 16.0, 8))


@LoRALinear
def test_lora_linear_B_starts_at_zero(impl):
    layer = impl.LoRALinear(_linear(7, 5), r=3)
    expect_equal(layer.lora_B.detach(), torch.zeros(5, 3, dtype=F64), what="lora_B at initialisation",
                 hint="B = 0 makes the update B @ A zero, so training starts from the pretrained model")


@LoRALinear
def test_lora_linear_A_is_kaiming_uniform_like_linear_weights(impl):
    in_features, r = 256, 64  # 16384 draws: the largest lies within 2% of the bound, whatever the seed
    layer = impl.LoRALinear(_linear(in_features, 4), r=r)
    A = layer.lora_A.detach()
    bound = 1 / math.sqrt(in_features)  # kaiming_uniform_(a=sqrt(5)) on fan_in = in_features
    biggest = A.abs().max().item()
    expect(biggest <= bound * (1 + 1e-6),
           f"lora_A has a value {biggest:.4g} outside the Kaiming-uniform bound 1/sqrt(in_features) = {bound:.4g}",
           "initialise it like nn.Linear's weight: nn.init.kaiming_uniform_(A, a=math.sqrt(5)); its fan_in is "
           "in_features (dimension 1 of A), not r")
    expect(biggest >= 0.98 * bound,
           f"lora_A's largest value is {biggest:.4g}, well inside the bound 1/sqrt(in_features) = {bound:.4g}: the "
           "draws are too narrow", "the Kaiming gain of nn.Linear weights uses a=sqrt(5), which makes the bound "
           "exactly 1/sqrt(fan_in)")
    expect(A.std().item() > 0, "lora_A is all zeros (or all equal) at initialisation",
           "with A = 0 and B = 0 both gradients are zero and LoRA never learns: only B starts at zero")
    spread = A.std().item() / (bound / math.sqrt(3))
    expect(0.9 < spread < 1.1,
           f"lora_A's standard deviation is {spread:.3f} times that of uniform(-1/sqrt(in), 1/sqrt(in))",
           "draw lora_A uniformly within +-1/sqrt(in_features), like nn.Linear weights (a=sqrt(5))")
    expect(abs(A.mean().item()) < 0.1 * bound, f"lora_A's mean is {A.mean().item():.3g}, not centred at 0",
           "Kaiming-uniform draws are symmetric around zero")


@LoRALinear
@pytest.mark.cuda
def test_lora_linear_factors_live_on_the_device_of_base_weight(impl):
    base = _linear(6, 4).cuda()
    layer = impl.LoRALinear(base, r=2, alpha=4.0)
    for name in ("lora_A", "lora_B"):
        expect_device(getattr(layer, name), base.weight.device, f"{name} of a LoRALinear around a CUDA nn.Linear",
                      "create the factors with device=base.weight.device")
    x = _x(3, 6).cuda()
    expect_close(layer(x), base(x).detach(), what="LoRALinear output on CUDA at init", rtol=0, atol=0)
    _train_lora(layer)
    before = layer(x).detach()
    layer.merge()
    expect_close(layer(x), before, what="merged LoRALinear output on CUDA", rtol=1e-10, atol=1e-10)


@LoRALinear
@pytest.mark.parametrize(("r", "alpha"), [(4, 12.0), (4, 6)], ids=["alpha_12.0", "alpha_6_int"])
def test_lora_linear_scaling_is_alpha_over_r(impl, r, alpha):
    base = _linear(7, 5)
    weight, bias = base.weight.detach().clone(), base.bias.detach().clone()
    layer = impl.LoRALinear(base, r=r, alpha=alpha)  # alpha / r = 3 or 1.5 (an int alpha: true division)
    A, B = _train_lora(layer)
    x = _x(6, 7)
    got = layer(x)
    expect_close(got, _reference(x, weight, bias, A, B, alpha, r),
                 what=f"LoRALinear output with r={r}, alpha={alpha!r}", rtol=1e-10, atol=1e-10,
                 hint=_lora_factor_ratio(got, x, weight, bias, A, B, alpha, r)
                 + ": is the scale r / alpha, missing, or an integer division (alpha // r)?")


@LoRALinear
def test_lora_linear_works_on_any_leading_shape(impl):
    base = _linear(7, 5)
    weight, bias = base.weight.detach().clone(), base.bias.detach().clone()
    layer = impl.LoRALinear(base, r=2, alpha=2.0)
    A, B = _train_lora(layer)
    x = _x(2, 3, 7)  # (batch, tokens, in)
    expect_close(layer(x), _reference(x, weight, bias, A, B, 2.0, 2), what="LoRALinear on a (2, 3, 7) input",
                 rtol=1e-10, atol=1e-10, hint="x @ lora_A.T @ lora_B.T works on the last dimension of any shape")


@LoRALinear
def test_lora_linear_takes_a_single_unbatched_sample(impl):
    base = _linear(7, 5)
    weight, bias = base.weight.detach().clone(), base.bias.detach().clone()
    layer = impl.LoRALinear(base, r=2, alpha=3.0)
    A, B = _train_lora(layer)
    x = _x(7)  # (in,): no leading dimension at all, as nn.Linear accepts
    try:
        got = layer(x)
    except (RuntimeError, IndexError) as err:
        fail(f"LoRALinear failed on a single 1-D sample of shape (7,): {err}",
             "x is (*, in_features) and * may be empty: x @ lora_A.T @ lora_B.T works for any number of leading "
             "dimensions, none included; flattening them with flatten(0, -2) does not")
    expect_close(got, _reference(x, weight, bias, A, B, 3.0, 2), what="LoRALinear on a (7,) input",
                 rtol=1e-10, atol=1e-10, hint="a 1-D sample gives a 1-D output of shape (out_features,)")


@LoRALinear
@pytest.mark.parametrize("layout", ["transposed_leading", "transposed_last", "strided"])
def test_lora_linear_takes_non_contiguous_inputs(impl, layout):
    base = _linear(7, 5)
    weight, bias = base.weight.detach().clone(), base.bias.detach().clone()
    layer = impl.LoRALinear(base, r=2, alpha=3.0)
    A, B = _train_lora(layer)
    if layout == "transposed_leading":
        x = _x(3, 2, 7).transpose(0, 1)  # (2, 3, 7): the two leading dimensions cannot be merged by a view
    elif layout == "transposed_last":
        x = _x(7, 4).T  # (4, 7): the feature dimension has stride 4
    else:
        x = _x(4, 14)[:, ::2]  # (4, 7): every other column
    assert not x.is_contiguous(), "test setup: the input should be a non-contiguous view"
    x_before = x.clone()
    try:
        got = layer(x)
    except RuntimeError as err:
        fail(f"LoRALinear failed on a non-contiguous input of shape {tuple(x.shape)}: {err}",
             "inputs may be views (transposed, sliced): .view() needs compatible strides, .reshape() or plain "
             "matmuls on the last dimension do not")
    expect_close(got, _reference(x_before, weight, bias, A, B, 3.0, 2),
                 what=f"LoRALinear on a non-contiguous {tuple(x.shape)} input ({layout})", rtol=1e-10, atol=1e-10,
                 hint="a view computes the same as its contiguous copy")
    expect_equal(x, x_before, what="the input after LoRALinear's forward", hint="forward must not write into x")


class _SubclassedLinear(nn.Linear):
    """An nn.Linear subclass, like nn.MultiheadAttention's out_proj: still an nn.Linear."""


@LoRALinear
def test_lora_linear_accepts_a_subclass_of_linear(impl):
    base = _SubclassedLinear(7, 5, dtype=F64)
    with torch.no_grad():
        base.weight.copy_(_linear(7, 5).weight)
    try:
        layer = impl.LoRALinear(base, r=2)
    except TypeError as err:
        fail(f"LoRALinear refused a subclass of nn.Linear: {err}",
             "a subclass of nn.Linear is an nn.Linear: check with isinstance(base, nn.Linear), not type(base) is ...")
    x = _x(3, 7)
    expect_equal(layer(x), base(x).detach(), what="LoRALinear(subclass of nn.Linear) output at init")


@LoRALinear
def test_lora_linear_works_without_bias(impl):
    base = _linear(7, 5, bias=False)
    weight = base.weight.detach().clone()
    layer = impl.LoRALinear(base, r=2, alpha=4.0)
    A, B = _train_lora(layer)
    x = _x(3, 7)
    expect_close(layer(x), _reference(x, weight, 0.0, A, B, 4.0, 2), what="LoRALinear around nn.Linear(bias=False)",
                 rtol=1e-10, atol=1e-10, hint="the base layer may have no bias: let base(x) handle it")


@LoRALinear
def test_lora_linear_freezes_the_base(impl):
    base = _linear(7, 5)
    layer = impl.LoRALinear(base, r=2)
    for name, p in (("base.weight", base.weight), ("base.bias", base.bias)):
        expect(not p.requires_grad, f"{name} still has requires_grad=True after wrapping it in LoRALinear",
               "freeze the pretrained layer (requires_grad_(False)): otherwise it is full fine-tuning in disguise")
    for name in ("lora_A", "lora_B"):
        expect(getattr(layer, name).requires_grad, f"{name} has requires_grad=False", "the LoRA factors train")


@LoRALinear
def test_lora_linear_registers_the_base_as_a_submodule(impl):
    base = _linear(7, 5)
    layer = impl.LoRALinear(base, r=2)
    params = list(layer.parameters())
    for name, p in (("base.weight", base.weight), ("base.bias", base.bias)):
        expect(any(q is p for q in params),
               f"{name} of the wrapped nn.Linear is not among LoRALinear(base).parameters()",
               "assign the base as a submodule (self.base = base) so that .to(device), state_dict() and "
               "parameters() see its frozen weights")


@LoRALinear
def test_lora_linear_gradients_reach_only_the_lora_factors(impl):
    base = _linear(7, 5)
    weight, bias = base.weight.detach().clone(), base.bias.detach().clone()
    layer = impl.LoRALinear(base, r=3, alpha=6.0)
    A, B = _train_lora(layer)
    x, grad_out = _x(4, 7), _x(4, 5, seed=3)
    (layer(x) * grad_out).sum().backward()

    A_ref, B_ref = A.clone().requires_grad_(), B.clone().requires_grad_()
    (_reference(x, weight, bias, A_ref, B_ref, 6.0, 3) * grad_out).sum().backward()
    for name, p in (("base.weight", base.weight), ("base.bias", base.bias)):
        expect(p.grad is None or not p.grad.any(), f"{name} received a gradient",
               "the base is frozen: only lora_A and lora_B get gradients")
    for name, ref in (("lora_A", A_ref), ("lora_B", B_ref)):
        grad = getattr(layer, name).grad
        expect(grad is not None, f"{name}.grad is None after backward", "the factors must be in the autograd graph")
        expect_close(grad, ref.grad, what=f"{name}.grad", rtol=1e-10, atol=1e-10,
                     hint="the gradient flows through (x @ A.T @ B.T) * alpha / r")


@LoRALinear
def test_lora_linear_B_gets_a_gradient_at_init(impl):
    layer = impl.LoRALinear(_linear(7, 5), r=3)
    (layer(_x(4, 7)) * _x(4, 5, seed=3)).sum().backward()
    expect(layer.lora_B.grad is not None and layer.lora_B.grad.abs().sum() > 0,
           "lora_B gets no gradient from the freshly initialised layer, so training cannot start",
           "dL/dB = (grad_out)^T (x A^T) * scaling is zero when A is zero: A must start random (Kaiming-uniform)")
    expect(layer.lora_A.grad is None or not layer.lora_A.grad.any(),
           "lora_A got a non-zero gradient at init; with B = 0 it should be exactly zero",
           "dL/dA goes through B, which starts at zero")


@LoRALinear
@pytest.mark.parametrize("r", [1, 2])
def test_lora_linear_accepts_every_rank_from_one(impl, r):
    layer = impl.LoRALinear(_linear(4, 3), r=r, alpha=4.0)
    expect_shape(layer.lora_A, (r, 4), f"lora_A of LoRALinear(Linear(4, 3), r={r})",
                 "r >= 1 is a valid rank, r=1 included: only r < 1 raises")
    expect(layer.scaling == 4.0 / r, f"scaling of LoRALinear(..., r={r}, alpha=4.0) is {layer.scaling}, expected "
           f"{4.0 / r}")


@LoRALinear
@pytest.mark.parametrize("r", [0, -2])
def test_lora_linear_rejects_rank_below_one(impl, r):
    with expect_raises(ValueError, f"LoRALinear(base, r={r})", names=r):
        impl.LoRALinear(_linear(4, 3), r=r)


@LoRALinear
@pytest.mark.parametrize("base", [nn.Conv1d(4, 3, 1), nn.Identity()], ids=["Conv1d", "Identity"])
def test_lora_linear_rejects_a_base_that_is_not_linear(impl, base):
    with expect_raises(TypeError, f"LoRALinear({type(base).__name__}(...))", names=type(base).__name__):
        impl.LoRALinear(base, r=2)


@LoRALinear
def test_lora_linear_dropout_is_off_in_eval_mode(impl):
    base = _linear(16, 8)
    weight, bias = base.weight.detach().clone(), base.bias.detach().clone()
    layer = impl.LoRALinear(base, r=4, alpha=8.0, dropout=0.5)
    A, B = _train_lora(layer)
    layer.eval()
    x = _x(32, 16)
    first, second = layer(x), layer(x)
    expect_equal(second, first.detach(), what="two eval-mode outputs of a LoRALinear with dropout=0.5",
                 hint="dropout is for training only: use nn.Dropout (it follows train()/eval()) or pass "
                 "training=self.training")
    expect_close(first, _reference(x, weight, bias, A, B, 8.0, 4), what="eval-mode output with dropout=0.5",
                 rtol=1e-10, atol=1e-10, hint="in eval mode the output is the formula without dropout")


@LoRALinear
def test_lora_linear_dropout_never_touches_the_base_path(impl):
    base = _linear(16, 8)
    layer = impl.LoRALinear(base, r=4, dropout=0.5)
    layer.train()
    x = _x(32, 16)
    expect_equal(layer(x), base(x).detach(), what="train-mode output with dropout=0.5 and lora_B still zero",
                 hint="dropout belongs to the LoRA path only: base(x) + (dropout(x) @ A.T @ B.T) * scaling; "
                 "is dropout applied to x before the base layer, or to the whole output?")


@LoRALinear
def test_lora_linear_dropout_drops_the_lora_input_in_train_mode(impl):
    n = 6  # in = out = r = alpha, A = B = I: the LoRA term is exactly dropout(x)
    base = _linear(n, n)
    layer = impl.LoRALinear(base, r=n, alpha=float(n), dropout=0.5)
    with torch.no_grad():
        layer.lora_A.copy_(torch.eye(n, dtype=F64))
        layer.lora_B.copy_(torch.eye(n, dtype=F64))
    layer.train()
    x = _x(40, n) + 3.0  # no value near zero, so dropped and kept are easy to tell apart
    term = (layer(x) - base(x)).detach()
    dropped = term.abs() < 1e-9
    kept = (term - 2 * x).abs() < 1e-9  # inverted dropout: kept values are scaled by 1 / (1 - p)
    expect(bool((dropped | kept).all()),
           "with A = B = I and dropout=0.5 the LoRA term should be dropout(x): each entry 0 or 2x",
           "apply dropout to the LoRA path's input, dropout(x) @ A.T @ B.T, in train mode (nn.Dropout(p))")
    expect(0 < int(dropped.sum()) < x.numel(),
           f"in train mode with dropout=0.5, {int(dropped.sum())} of {x.numel()} LoRA inputs were dropped",
           "is the dropout active in train mode, and is p passed on?")


@LoRALinear
def test_lora_linear_dropout_acts_on_the_input_not_on_the_low_rank_term(impl):
    n_in, n_out = 5, 8  # r = in = alpha: scaling 1; A square and invertible, B of full column rank
    base = _linear(n_in, n_out)
    layer = impl.LoRALinear(base, r=n_in, alpha=float(n_in), dropout=0.5)
    A = _x(n_in, n_in, seed=5) + 3 * torch.eye(n_in, dtype=F64)
    B = _x(n_out, n_in, seed=6)
    with torch.no_grad():
        layer.lora_A.copy_(A)
        layer.lora_B.copy_(B)
    layer.train()
    x = _x(40, n_in) + 3.0
    term = (layer(x) - base(x)).detach()  # (40, out) = dropout(x) @ (B @ A).T if dropout acts on x
    dropped_x = torch.linalg.lstsq(B @ A, term.T).solution.T  # (40, in): the input the LoRA path saw
    dropped = dropped_x.abs() < 1e-6
    kept = (dropped_x - 2 * x).abs() < 1e-6
    expect(bool((dropped | kept).all()),
           "in train mode the LoRA term is not dropout(x) @ A.T @ B.T: solving it for the input of the LoRA "
           "path does not give x with some entries zeroed and the others doubled (dropout=0.5)",
           "apply the dropout to x, the input of the LoRA path, before lora_A: not to x @ A.T, nor to the "
           "low-rank term or the output")


@LoRALinear
def test_lora_linear_delta_weight_is_the_scaled_low_rank_update(impl):
    layer = impl.LoRALinear(_linear(7, 5), r=3, alpha=6.0)
    A, B = _train_lora(layer)
    delta = layer.delta_weight()
    expect_shape(delta, (5, 7), "delta_weight() of LoRALinear(Linear(in=7, out=5), r=3)",
                 "the update has the shape of base.weight: (out_features, in_features) = lora_B @ lora_A")
    expect_close(delta, B @ A * (6.0 / 3), what="delta_weight() with alpha=6.0, r=3", rtol=1e-12, atol=1e-12,
                 hint="lora_B @ lora_A (out x r times r x in), times scaling = alpha / r")


@LoRALinear
def test_lora_linear_merge_keeps_the_output(impl):
    base = _linear(7, 5)
    weight, bias = base.weight.detach().clone(), base.bias.detach().clone()
    r, alpha = 4, 12.0
    layer = impl.LoRALinear(base, r=r, alpha=alpha)
    A, B = _train_lora(layer)
    x = _x(6, 7)
    unmerged = layer(x).detach()
    layer.merge()
    expect_close(base.weight.detach(), weight + (B @ A) * (alpha / r), what="base.weight after merge()",
                 rtol=1e-10, atol=1e-10, hint="merge folds lora_B @ lora_A * (alpha / r) into base.weight: "
                 "is the scaling missing?")
    expect_close(layer(x), unmerged, what="LoRALinear output after merge()", rtol=1e-10, atol=1e-10,
                 hint="once merged, forward is base(x) alone: adding the LoRA term again counts it twice")
    expect_close(base.bias.detach(), bias, what="base.bias after merge()", rtol=0, atol=0,
                 hint="LoRA adapts the weight only")


@LoRALinear
def test_lora_linear_merge_leaves_the_base_frozen_without_a_graph(impl):
    base = _linear(7, 5)
    layer = impl.LoRALinear(base, r=3, alpha=6.0)
    _train_lora(layer)
    hint = ("merge and unmerge change base.weight in place under torch.no_grad(): outside it, an in-place update "
            "with the trainable lora_A / lora_B records a graph and makes the frozen weight require grad")
    for step in ("merge", "unmerge"):
        getattr(layer, step)()  # with autograd on, as in a training script
        w = base.weight
        expect(not w.requires_grad, f"base.weight requires grad after {step}(): the frozen base became trainable",
               hint)
        expect(w.grad_fn is None, f"base.weight carries a graph after {step}() (grad_fn={w.grad_fn})", hint)


@LoRALinear
def test_lora_linear_merged_flag(impl):
    layer = impl.LoRALinear(_linear(7, 5), r=2)
    expect(layer.merged is False, f"merged should be False on a new layer, got {layer.merged!r}")
    layer.merge()
    expect(layer.merged is True, f"merged should be True after merge(), got {layer.merged!r}")
    layer.unmerge()
    expect(layer.merged is False, f"merged should be False after unmerge(), got {layer.merged!r}")


@LoRALinear
def test_lora_linear_merge_twice_equals_merge_once(impl):
    base = _linear(7, 5)
    layer = impl.LoRALinear(base, r=3, alpha=6.0)
    _train_lora(layer)
    x = _x(4, 7)
    unmerged = layer(x).detach()
    layer.merge()
    once = base.weight.detach().clone()
    layer.merge()
    expect_equal(base.weight.detach(), once, what="base.weight after merge(); merge()",
                 hint="merging an already merged layer changes nothing: check `merged` first")
    expect_close(layer(x), unmerged, what="output after merging twice", rtol=1e-10, atol=1e-10)


@LoRALinear
def test_lora_linear_unmerge_of_unmerged_layer_changes_nothing(impl):
    base = _linear(7, 5)
    weight = base.weight.detach().clone()
    layer = impl.LoRALinear(base, r=3, alpha=6.0)
    _train_lora(layer)
    x = _x(4, 7)
    before = layer(x).detach()
    layer.unmerge()
    expect_equal(base.weight.detach(), weight, what="base.weight after unmerge() of a layer never merged",
                 hint="unmerging an unmerged layer changes nothing: check `merged` first")
    expect_close(layer(x), before, what="output after unmerge() of an unmerged layer", rtol=0, atol=0)


@LoRALinear
def test_lora_linear_merge_then_unmerge_restores_the_base(impl):
    base = _linear(7, 5)
    weight = base.weight.detach().clone()
    layer = impl.LoRALinear(base, r=3, alpha=6.0)
    _train_lora(layer)
    x = _x(4, 7)
    before = layer(x).detach()
    layer.merge()
    layer.unmerge()
    expect_close(base.weight.detach(), weight, what="base.weight after merge(); unmerge()", rtol=1e-12, atol=1e-12,
                 hint="unmerge subtracts exactly what merge added: lora_B @ lora_A * (alpha / r)")
    expect_close(layer(x), before, what="output after merge(); unmerge()", rtol=1e-10, atol=1e-10,
                 hint="unmerged again, forward adds the LoRA term again")


@LoRALinear
def test_lora_linear_fits_a_low_rank_change_training_a_small_fraction(impl):
    start = time.perf_counter()
    torch.manual_seed(0)
    d = 64
    base = nn.Linear(d, d)
    with torch.no_grad():  # the task moved by a rank-2 change of the weight
        target_weight = base.weight + 0.3 * torch.randn(d, 2) @ torch.randn(2, d) / math.sqrt(d)
    x = torch.randn(64, d)
    y = x @ target_weight.T + base.bias.detach()
    layer = impl.LoRALinear(base, r=4, alpha=8.0)
    trainable = [p for p in layer.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in trainable)
    n_total = sum(p.numel() for p in layer.parameters())
    fraction = n_trainable / n_total
    print(f"\nLoRA r=4 on Linear({d}, {d}): {n_trainable} of {n_total} parameters train ({fraction:.1%})")
    expect(n_trainable == 4 * (d + d), f"{n_trainable} parameters train; expected r * (in + out) = {4 * 2 * d}",
           "only lora_A and lora_B train; the base is frozen")
    opt = torch.optim.Adam(trainable, lr=3e-2)
    with torch.no_grad():
        first = nn.functional.mse_loss(layer(x), y).item()
    for _ in range(120):
        opt.zero_grad()
        loss = nn.functional.mse_loss(layer(x), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        last = nn.functional.mse_loss(layer(x), y).item()
    print(f"loss {first:.4g} -> {last:.4g} ({first / max(last, 1e-30):.0f}x lower) "
          f"in 120 Adam steps [{time.perf_counter() - start:.2f}s]")
    expect(last < first / 100,
           f"training only the LoRA factors took the loss from {first:.4g} to {last:.4g}: under a 100x drop",
           "a rank-4 adapter can express a rank-2 change exactly: do gradients reach lora_A and lora_B, and "
           "is A random at init (a zero A gives B no gradient)?")


# ---------------------------------------------------------------- apply_lora


@apply_lora
def test_apply_lora_returns_the_same_model(impl):
    model = _net()
    got = impl.apply_lora(model)
    expect(got is model, f"apply_lora returned {type(got).__name__} object, not the model it was given",
           "apply_lora works in place (setattr on the parents) and returns the model itself")


@apply_lora
def test_apply_lora_wraps_every_target_linear(impl):
    model = impl.apply_lora(_net(), target_modules=("q_proj", "v_proj"), r=2)
    modules = dict(model.named_modules())
    for path in TARGET_PATHS:
        expect(isinstance(modules.get(path), impl.LoRALinear),
               f"{path} is {type(modules.get(path)).__name__}, not LoRALinear",
               "walk every submodule (model.modules() or named_modules()), not only the top level: nested "
               "layers such as blocks.0.q_proj are matched by their own attribute name")


@apply_lora
def test_apply_lora_matches_the_attribute_name_not_a_substring(impl):
    model = impl.apply_lora(_net(), target_modules=("q_proj", "v_proj"), r=2)
    modules = dict(model.named_modules())
    for path in OTHER_LINEAR_PATHS:
        expect(type(modules.get(path)) is nn.Linear,
               f"{path} became {type(modules.get(path)).__name__}; only layers named exactly q_proj or v_proj "
               "should be wrapped",
               "compare the attribute name (the last part of the path) with == against target_modules; "
               "'q_proj' in 'blocks.0.q_proj_extra' is True for a substring test")


class _OddNames(nn.Module):
    """A target name worn by a module that is not an nn.Linear."""

    def __init__(self, d: int = 4):
        super().__init__()
        self.q_proj = nn.Sequential(nn.Linear(d, d), nn.Tanh())  # named q_proj, but not an nn.Linear
        self.v_proj = nn.Linear(d, d)

    def forward(self, x):
        return self.v_proj(self.q_proj(x))


@apply_lora
def test_apply_lora_wraps_only_linear_layers(impl):
    model = _OddNames().to(F64)
    hint = ("only an nn.Linear whose attribute name is a target is wrapped: check isinstance(child, nn.Linear) "
            "as well as the name")
    error = None
    try:
        impl.apply_lora(model, target_modules=("q_proj", "v_proj"), r=2)
    except TypeError as err:  # e.g. LoRALinear refusing the nn.Sequential it was wrongly handed
        error = err
    expect(error is None, f"apply_lora raised TypeError on a model whose q_proj is an nn.Sequential, not an "
           f"nn.Linear: {error}", hint)
    expect(isinstance(model.v_proj, impl.LoRALinear), f"v_proj is {type(model.v_proj).__name__}, not LoRALinear")
    expect(type(model.q_proj) is nn.Sequential,
           f"q_proj, an nn.Sequential, became {type(model.q_proj).__name__}", hint)


class _SubclassedProjections(nn.Module):
    """q_proj and v_proj are subclasses of nn.Linear (as nn.MultiheadAttention's out_proj is)."""

    def __init__(self, d: int = 4):
        super().__init__()
        self.q_proj = _SubclassedLinear(d, d)
        self.v_proj = nn.Linear(d, d)

    def forward(self, x):
        return self.v_proj(torch.tanh(self.q_proj(x)))


@apply_lora
def test_apply_lora_wraps_subclasses_of_linear(impl):
    model = impl.apply_lora(_SubclassedProjections().to(F64), target_modules=("q_proj", "v_proj"), r=2)
    for name in ("q_proj", "v_proj"):
        expect(isinstance(getattr(model, name), impl.LoRALinear),
               f"{name} ({'a subclass of nn.Linear' if name == 'q_proj' else 'an nn.Linear'}) was not wrapped: it is "
               f"{type(getattr(model, name)).__name__}",
               "a subclass of nn.Linear is an nn.Linear: match with isinstance(child, nn.Linear), not type(child) is")


@apply_lora
def test_apply_lora_freezes_everything_but_the_lora_factors(impl):
    model = impl.apply_lora(_net(), r=2)
    lora_params = {id(p) for m in _lora_layers(impl, model).values() for p in (m.lora_A, m.lora_B)}
    for name, p in model.named_parameters():
        if id(p) in lora_params:
            expect(p.requires_grad, f"{name} has requires_grad=False", "the LoRA factors are what trains")
        else:
            expect(not p.requires_grad, f"{name} still has requires_grad=True after apply_lora",
                   "freeze every other parameter of the model (embed, norm, head, the wrapped bases...)")


@apply_lora
def test_apply_lora_keeps_the_output_at_init(impl):
    model = _net()
    x = _x(4, 5)
    expected = model(x).detach()
    impl.apply_lora(model, r=2)
    expect_close(model(x), expected, what="model output right after apply_lora", rtol=1e-12, atol=1e-12,
                 hint="every new adapter starts with lora_B = 0, so the model still computes what it did")


@apply_lora
def test_apply_lora_uses_q_proj_v_proj_and_rank_8_by_default(impl):
    model = impl.apply_lora(_net())
    layers = _lora_layers(impl, model)
    expect(sorted(layers) == sorted(TARGET_PATHS), f"apply_lora(model) wrapped {sorted(layers)}",
           "target_modules defaults to ('q_proj', 'v_proj')")
    expect_shape(layers["v_proj"].lora_A, (8, 6), "lora_A of v_proj with the default r", "the default is r=8")
    expect(layers["v_proj"].scaling == 16.0 / 8,
           f"apply_lora(model) gave v_proj scaling={layers['v_proj'].scaling}, expected alpha / r = 16.0 / 8 = 2.0",
           "the defaults are r=8 and alpha=16.0")


@apply_lora
def test_apply_lora_passes_r_alpha_and_dropout_on(impl):
    model = _net()
    head = model.head
    weight, bias = head.weight.detach().clone(), head.bias.detach().clone()
    impl.apply_lora(model, target_modules=["head"], r=2, alpha=6.0, dropout=0.5)
    layer = model.head
    expect(isinstance(layer, impl.LoRALinear), f"model.head is {type(layer).__name__} after targeting 'head'")
    expect_shape(layer.lora_A, (2, 6), "lora_A of head with r=2", "pass r on to LoRALinear")
    A, B = _train_lora(layer)
    h = _x(20, 6)
    layer.eval()
    got = layer(h)
    expect_close(got, _reference(h, weight, bias, A, B, 6.0, 2), what="head output in eval mode, r=2, alpha=6",
                 rtol=1e-10, atol=1e-10, hint="pass alpha on to LoRALinear; "
                 + _lora_factor_ratio(got, h, weight, bias, A, B, 6.0, 2))
    layer.train()
    expect(not torch.equal(layer(h), got), "with dropout=0.5 the train-mode output equals the eval-mode one",
           "pass dropout on to LoRALinear")


@apply_lora
def test_apply_lora_raises_when_nothing_matches(impl):
    with expect_raises(ValueError, "apply_lora(model, target_modules=('nope',))", names="nope"):
        impl.apply_lora(_net(), target_modules=("nope",))


@apply_lora
@pytest.mark.parametrize("kind", ["list", "set", "generator"])
def test_apply_lora_takes_any_iterable_of_names(impl, kind):
    names = ["q_proj", "v_proj"]
    targets = {"list": names, "set": set(names), "generator": (n for n in names)}[kind]
    model = _net()
    hint = ("target_modules is any iterable of names: turn it into a set once (a generator can be read only once, "
            "and `name in generator` consumes it)")
    try:
        impl.apply_lora(model, target_modules=targets, r=2)
    except ValueError as err:
        fail(f"apply_lora with target_modules given as a {kind} of 'q_proj' and 'v_proj' found nothing: {err}", hint)
    layers = _lora_layers(impl, model)
    expect(sorted(layers) == sorted(TARGET_PATHS),
           f"apply_lora with target_modules given as a {kind} wrapped {sorted(layers)}; expected {TARGET_PATHS}",
           hint)


@apply_lora
def test_apply_lora_leaves_the_model_unchanged_when_nothing_matches(impl):
    model = _net()
    model.head.requires_grad_(False)  # mixed flags, to see them kept
    before = {name: p.requires_grad for name, p in model.named_parameters()}
    with expect_raises(ValueError, "apply_lora(model, target_modules=('nope',))", names="nope"):
        impl.apply_lora(model, target_modules=("nope",))
    changed = [name for name, p in model.named_parameters() if p.requires_grad != before.get(name)]
    expect(not changed,
           f"apply_lora raised ValueError (nothing matched) but had already changed requires_grad of {changed[:4]}",
           "find the layers first, raise if there are none, and only then freeze and wrap: an error leaves the "
           "model as it was")
    expect(not _lora_layers(impl, model), "apply_lora raised ValueError but left LoRALinear layers in the model")


@apply_lora
def test_apply_lora_then_training_changes_only_the_adapters(impl):
    model = impl.apply_lora(_net(), r=2)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x, y = _x(8, 5), _x(8, 3, seed=4)
    for _ in range(3):
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    for name, value in frozen.items():
        expect_equal(dict(model.named_parameters())[name].detach(), value, what=f"{name} after 3 training steps",
                     hint="frozen parameters must not move")
    moved = [n for n, m in _lora_layers(impl, model).items() if m.lora_B.detach().abs().sum() > 0]
    expect(len(moved) == len(TARGET_PATHS), f"only {moved} of the adapters learned anything",
           "every adapter's lora_B should receive a gradient and move")


# ---------------------------------------------------------------- lora_state_dict / load_lora_state_dict


def _adapted_net(impl, seed: int = 0) -> tuple[_Net, _Net]:
    """(a pristine pretrained model, a copy of it adapted with 'trained' LoRA factors)."""
    pretrained = _net(seed)
    adapted = impl.apply_lora(copy.deepcopy(pretrained), r=2, alpha=3.0)
    for i, layer in enumerate(_lora_layers(impl, adapted).values()):
        _train_lora(layer, seed=10 + i)
    return pretrained, adapted


@lora_state_dict
def test_lora_state_dict_holds_only_the_lora_parameters(impl):
    _, adapted = _adapted_net(impl)
    sd = impl.lora_state_dict(adapted)
    expect(isinstance(sd, dict), f"lora_state_dict returned {type(sd).__name__}, expected a dict")
    extra = [k for k in sd if "lora_" not in k]
    expect(not extra, f"lora_state_dict holds keys that are not LoRA parameters: {extra[:4]}",
           "keep only the keys containing 'lora_': the adapter, not the whole model")
    n_expected = 2 * len(TARGET_PATHS)
    expect(len(sd) == n_expected, f"lora_state_dict has {len(sd)} entries; expected {n_expected} "
           "(lora_A and lora_B of each of the 5 adapted layers)")
    for key, value in sd.items():
        expect(isinstance(value, torch.Tensor), f"lora_state_dict()[{key!r}] is {type(value).__name__}")
    n_params = sum(v.numel() for v in sd.values())
    n_lora = sum(m.lora_A.numel() + m.lora_B.numel() for m in _lora_layers(impl, adapted).values())
    expect(n_params == n_lora, f"lora_state_dict holds {n_params} numbers; the adapters have {n_lora}")


@lora_state_dict
def test_lora_state_dict_leaves_out_other_trainable_parameters(impl):
    _, adapted = _adapted_net(impl)
    adapted.head.requires_grad_(True)  # a task head trained beside the adapters
    sd = impl.lora_state_dict(adapted)
    extra = [k for k in sd if "lora_" not in k]
    expect(not extra, f"lora_state_dict holds {extra} once the head is trainable too",
           "select the LoRA parameters by name (keys containing 'lora_'), not by requires_grad")


@lora_state_dict
def test_lora_state_dict_round_trips_into_a_fresh_adapted_model(impl):
    pretrained, adapted = _adapted_net(impl)
    adapted.eval()
    x = _x(4, 5)
    expected = adapted(x).detach()
    buffer = io.BytesIO()
    torch.save(impl.lora_state_dict(adapted), buffer)  # what one would ship for this task
    buffer.seek(0)
    fresh = impl.apply_lora(copy.deepcopy(pretrained), r=2, alpha=3.0).eval()
    result = impl.load_lora_state_dict(fresh, torch.load(buffer))
    expect(result is None, f"load_lora_state_dict returned {type(result).__name__}; it loads in place, returns None")
    expect_close(fresh(x), expected, what="output of a fresh model after load_lora_state_dict", rtol=1e-12,
                 atol=1e-12, hint="copy every saved tensor into the matching lora_A / lora_B of the model")
    for path, layer in _lora_layers(impl, fresh).items():
        expect(layer.lora_A.requires_grad and layer.lora_B.requires_grad,
               f"{path}'s LoRA factors stopped being trainable parameters after loading",
               "copy values into the existing parameters (load_state_dict or param.copy_), don't replace them")


@lora_state_dict
def test_load_lora_state_dict_copies_into_the_models_own_dtype(impl):
    pretrained, adapted = _adapted_net(impl)
    sd32 = {k: v.detach().float() for k, v in impl.lora_state_dict(adapted).items()}  # an adapter shipped in float32
    fresh = impl.apply_lora(copy.deepcopy(pretrained), r=2, alpha=3.0).eval()
    impl.load_lora_state_dict(fresh, sd32)
    params = dict(fresh.named_parameters())
    for key, value in sd32.items():
        expect_close(params[key], value.to(F64), what=f"{key} after loading a float32 adapter into a float64 model",
                     rtol=0, atol=0,
                     hint="copy the values into the model's own parameters (load_state_dict or param.copy_ cast "
                     "them to the parameter's dtype and device); param.data = value swaps in the float32 tensor")
    out = fresh(_x(4, 5))
    expect_dtype(out, F64, "the float64 model's output after loading a float32 adapter")


@lora_state_dict
def test_load_lora_state_dict_raises_on_a_missing_key(impl):
    _, adapted = _adapted_net(impl)
    sd = dict(impl.lora_state_dict(adapted))
    key = sorted(sd)[0]
    del sd[key]
    target = impl.apply_lora(_net(), r=2, alpha=3.0)
    with expect_raises(KeyError, f"load_lora_state_dict without {key!r}", names=key):
        impl.load_lora_state_dict(target, sd)


@lora_state_dict
@pytest.mark.parametrize("kind", ["bogus_lora_key", "base_weight_key"])
def test_load_lora_state_dict_raises_on_an_unexpected_key(impl, kind):
    _, adapted = _adapted_net(impl)
    sd = dict(impl.lora_state_dict(adapted))
    target = impl.apply_lora(_net(), r=2, alpha=3.0)
    if kind == "bogus_lora_key":
        key, value = "bogus.lora_A", torch.zeros(2, 6, dtype=F64)
    else:  # a real parameter of the model, but not a LoRA one: an adapter must not overwrite the base
        key = next(k for k in target.state_dict() if "lora_" not in k)
        value = target.state_dict()[key].clone()
    sd[key] = value
    with expect_raises(KeyError, f"load_lora_state_dict with the extra key {key!r}", names=key):
        impl.load_lora_state_dict(target, sd)


@lora_state_dict
def test_load_lora_state_dict_does_not_skip_factors_of_another_shape(impl):
    sd = {k: torch.randn_like(v) for k, v in impl.lora_state_dict(impl.apply_lora(_net(), r=4)).items()}
    target = impl.apply_lora(_net(), r=2, alpha=3.0)
    try:
        impl.load_lora_state_dict(target, sd)
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001 - refusing a rank-4 adapter for a rank-2 model, in any words, is right
        return
    now = {k: v.detach() for k, v in target.named_parameters() if k in sd}
    skipped = [k for k in sd if k not in now or now[k].shape != sd[k].shape or not torch.equal(now[k], sd[k])]
    expect(not skipped,
           f"load_lora_state_dict of a rank-4 adapter into a rank-2 model raised nothing and left {skipped[:2]} "
           "as they were",
           "a factor whose shape does not fit must not be skipped silently: copy_ / load_state_dict raise "
           "on a shape mismatch, let them")


# ---------------------------------------------------------------- merge_lora


@merge_lora
def test_merge_lora_leaves_plain_linear_layers(impl):
    _, adapted = _adapted_net(impl)
    got = impl.merge_lora(adapted)
    expect(isinstance(got, nn.Module), f"merge_lora returned {type(got).__name__}, expected the merged model",
           "replace the layers in the model (setattr on the parents) and return the model")
    left = list(_lora_layers(impl, got))
    expect(not left, f"LoRALinear layers left after merge_lora: {left}", "replace each one in its parent (setattr)")
    modules = dict(got.named_modules())
    for path in TARGET_PATHS:
        expect(isinstance(modules.get(path), nn.Linear), f"{path} is {type(modules.get(path)).__name__} after "
               "merge_lora, expected a plain nn.Linear")
    extra = [k for k in got.state_dict() if "lora_" in k]
    expect(not extra, f"the merged model still holds LoRA parameters: {extra[:3]}")


@merge_lora
def test_merge_lora_keeps_the_outputs(impl):
    _, adapted = _adapted_net(impl)
    adapted.eval()
    x = _x(4, 5)
    expected = adapted(x).detach()
    merged = impl.merge_lora(adapted)
    expect_close(merged(x), expected, what="model output after merge_lora", rtol=1e-10, atol=1e-10,
                 hint="the merged weight is W + lora_B @ lora_A * (alpha / r): is the scaling missing?")


@merge_lora
def test_merge_lora_weight_is_base_plus_scaled_update(impl):
    pretrained, adapted = _adapted_net(impl)
    layer = _lora_layers(impl, adapted)["blocks.1.q_proj"]
    A, B = layer.lora_A.detach().clone(), layer.lora_B.detach().clone()
    merged = impl.merge_lora(adapted).blocks[1].q_proj
    old = pretrained.blocks[1].q_proj
    expect_close(merged.weight.detach(), old.weight.detach() + (B @ A) * (3.0 / 2), what="merged q_proj.weight",
                 rtol=1e-12, atol=1e-12, hint="W + lora_B @ lora_A * (alpha / r)")
    expect_close(merged.bias.detach(), old.bias.detach(), what="merged q_proj.bias", rtol=0, atol=0)


class _NoBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(5, 4, bias=False)

    def forward(self, x):
        return self.q_proj(x)


@merge_lora
def test_merge_lora_keeps_a_layer_without_bias_bias_free(impl):
    torch.manual_seed(0)
    model = impl.apply_lora(_NoBias().to(F64), target_modules=("q_proj",), r=2)
    _train_lora(model.q_proj)
    x = _x(3, 5)
    expected = model(x).detach()
    merged = impl.merge_lora(model)
    expect_close(merged(x), expected, what="output of a bias-free layer after merge_lora", rtol=1e-10, atol=1e-10,
                 hint="a base without bias stays without one: build the plain layer with bias=base.bias is not None "
                 "(or reuse the merged base itself), or a fresh nn.Linear's random bias slips in")


@merge_lora
def test_merge_lora_does_not_merge_an_already_merged_layer_twice(impl):
    _, adapted = _adapted_net(impl)
    adapted.eval()
    x = _x(4, 5)
    expected = adapted(x).detach()
    _lora_layers(impl, adapted)["blocks.0.v_proj"].merge()
    merged = impl.merge_lora(adapted)
    expect_close(merged(x), expected, what="output of merge_lora after one layer was already merged",
                 rtol=1e-10, atol=1e-10, hint="a layer whose `merged` is True already carries its update")


@merge_lora
def test_merge_lora_of_a_lone_lora_linear_returns_its_merged_base(impl):
    base = _linear(7, 5)
    layer = impl.LoRALinear(base, r=2, alpha=4.0)
    A, B = _train_lora(layer)
    weight = base.weight.detach().clone()
    x = _x(3, 7)
    expected = layer(x).detach()
    got = impl.merge_lora(layer)
    expect(isinstance(got, nn.Linear) and not isinstance(got, impl.LoRALinear),
           f"merge_lora(LoRALinear) returned {type(got).__name__}; expected a plain nn.Linear",
           "the model may itself be a LoRALinear: it has no parent to setattr on, so return its merged base")
    expect_close(got.weight.detach(), weight + (B @ A) * 2.0, what="merge_lora(LoRALinear).weight",
                 rtol=1e-12, atol=1e-12, hint="W + lora_B @ lora_A * (alpha / r)")
    expect_close(got(x), expected, what="merge_lora(LoRALinear) output", rtol=1e-10, atol=1e-10)


@merge_lora
@pytest.mark.cuda
def test_apply_and_merge_lora_on_cuda(impl):
    pretrained, adapted = _adapted_net(impl)
    adapted = adapted.cuda().eval()
    for path, layer in _lora_layers(impl, adapted).items():
        expect_device(layer.lora_A, "cuda", f"{path}.lora_A after model.cuda()")
    x = _x(4, 5).cuda()
    expected = adapted(x).detach()
    merged = impl.merge_lora(adapted)
    expect_close(merged(x), expected, what="CUDA model output after merge_lora", rtol=1e-10, atol=1e-10)
    fresh = impl.apply_lora(pretrained.cuda(), r=2, alpha=3.0)
    for path, layer in _lora_layers(impl, fresh).items():
        expect_device(layer.lora_B, "cuda", f"{path}.lora_B of apply_lora on a CUDA model",
                      "create the factors on base.weight.device")


# ---------------------------------------------------------------- demo


@demo
def test_demo_quick_run_reports_lora_at_work(impl):
    from demos.lora import main

    out = main(impl.module, quick=True)
    expect(isinstance(out, dict), f"demos.lora.main should return a dict of headline numbers, got {type(out)}")
    frac = out["lora_trainable_fraction"]
    expect(0 < frac < 0.2, f"LoRA trains {frac:.1%} of the model's parameters; expected a small fraction",
           "apply_lora should freeze everything but lora_A / lora_B")
    expect(out["lora_trainable"] < out["full_trainable"] / 5,
           f"LoRA trains {out['lora_trainable']} parameters vs {out['full_trainable']} for full fine-tuning")
    expect(out["lora_acc"] > out["pretrained_shifted_acc"] + 0.1,
           f"LoRA did not adapt to the shifted task: accuracy {out['pretrained_shifted_acc']:.3f} before, "
           f"{out['lora_acc']:.3f} after", "do gradients reach lora_A and lora_B?")
    expect(out["merge_max_abs_diff"] < 1e-4,
           f"merge_lora changed the outputs by up to {out['merge_max_abs_diff']:.3g}",
           "merging must give the same function: W + B @ A * alpha / r")
