"""attention: scaled dot-product attention, masks, positional encoding, heads, the pre-LN block.

Masks of the exercises are boolean with True = "may attend" (the F.scaled_dot_product_attention
convention). nn.MultiheadAttention and nn.TransformerEncoderLayer read a boolean mask the other way
round (True = NOT allowed): the tests translate with `~mask` when they build their references.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kata.learn.checks import (
    call_refusing,
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

scaled_dot_product_attention = pytest.mark.exercise("scaled_dot_product_attention")
causal_mask = pytest.mark.exercise("causal_mask")
sinusoidal_positional_encoding = pytest.mark.exercise("sinusoidal_positional_encoding")
MultiHeadSelfAttention = pytest.mark.exercise("MultiHeadSelfAttention")
TransformerBlock = pytest.mark.exercise("TransformerBlock")
demo = pytest.mark.exercise("demo")

F64 = torch.float64
# float64 against PyTorch. Attention is about structure (scale, mask, heads, residuals), not the last bits: the
# tolerance lets through correct code that keeps float32 on the way (sqrt(d) as a float32 tensor, a float32
# softmax, ~1e-7 off), while every mistake the tests name is off by far more (a LayerNorm eps of 1e-6
# instead of 1e-5 is ~2e-5 off).
CLOSE = {"rtol": 1e-5, "atol": 1e-6}


# ---------------------------------------------------------------- helpers


def _randn(*shape, seed: int, dtype=F64, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=F64) * scale).to(dtype)


def _random_mask(*shape, seed: int, p: float = 0.6) -> torch.Tensor:
    """A random bool mask (True = may attend) with at least one True in every row."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(*shape, generator=g) < p
    keep = torch.randint(shape[-1], shape[:-1], generator=g).unsqueeze(-1)
    return mask.scatter(-1, keep, True)


def _attend(q, k, v, mask=None, *, scale=None, dim=-1, mask_after=False):
    """Float64 attention with knobs for the classic mistakes; masked-out rows give zeros, never NaN."""
    d = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / (math.sqrt(d) if scale is None else scale)
    if mask is not None and not mask_after:
        # a finite "-inf": fully masked rows come out uniform (then zeroed below), so no NaN even in backward
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=dim)
    if mask is not None:
        weights = weights * mask
    return weights @ v, weights


def _sdpa_mistakes(q, k, v, mask=None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """What (output, weights) look like after each classic mistake, keyed by the hint that names it."""
    d = q.shape[-1]
    out = {
        "the scores look divided by d instead of sqrt(d): the softmax comes out too flat; "
        "scale q k^T by 1/sqrt(d)": _attend(q, k, v, mask, scale=d),
        "the scores look unscaled: divide q k^T by sqrt(d) before the softmax": _attend(q, k, v, mask, scale=1.0),
        "the softmax looks taken over the queries axis: each query's weights must sum to 1 over the "
        "keys, the last axis": _attend(q, k, v, mask, dim=-2),
    }
    if mask is not None:
        out["the mask looks applied after the softmax: the masked keys still took their share of the "
            "normalisation, so rows no longer sum to 1; mask the scores before the softmax"] = _attend(
            q, k, v, mask, mask_after=True)
        out["the mask looks inverted: True means 'may attend' here (the F.scaled_dot_product_attention "
            "convention, the opposite of nn.MultiheadAttention's)"] = _attend(q, k, v, ~mask)
    return out


def _diagnose(got, expected: torch.Tensor, variants, default: str) -> str:
    """The hint of the first mistake whose result `got` reproduces, else `default`.

    `variants()` returns {hint: wrong result}; it is only built when `got` is not already right.
    """
    if not isinstance(got, torch.Tensor):
        return default
    tol = {"rtol": 1e-6, "atol": 1e-8} if got.dtype == F64 else {"rtol": 1e-3, "atol": 1e-4}
    if got.shape == expected.shape and torch.allclose(got.detach().to(expected.dtype), expected, **tol):
        return default
    for hint, wrong in variants().items():
        if got.shape == wrong.shape and torch.allclose(got.detach().to(wrong.dtype), wrong, **tol):
            return hint
    return default


SDPA_RULE = ("scaled_dot_product_attention is the exercise: it is written by hand, without "
             "F.scaled_dot_product_attention or any other attention function of torch")
SDPA_BY_HAND = ("a few tensor operations: scores = q @ k.transpose(-2, -1) / sqrt(d), masked before a softmax over "
                "the keys (the last axis), then weights @ v")
SDPA_SHORTCUTS = [
    (F, "scaled_dot_product_attention", "F.scaled_dot_product_attention"),
    (F, "multi_head_attention_forward", "F.multi_head_attention_forward"),
    (nn.MultiheadAttention, "forward", "nn.MultiheadAttention"),
]


def _sdpa_by_hand(impl, *args, **kwargs):
    """impl.scaled_dot_product_attention(*args, **kwargs) with torch's own attention refused, by any name."""
    __tracebackhide__ = True
    return call_refusing(impl.scaled_dot_product_attention, *args, rule=SDPA_RULE, hint=SDPA_BY_HAND,
                         attributes=SDPA_SHORTCUTS, names=("attention",), **kwargs)


def _call_sdpa(impl, q, k, v, mask=None):
    __tracebackhide__ = True
    got = _sdpa_by_hand(impl, q, k, v, mask=mask)
    expect(
        isinstance(got, tuple) and len(got) == 2,
        f"expected a tuple (output, weights), got {type(got).__name__}",
        "return both the weighted sum of the values and the attention weights",
    )
    out, weights = got
    expect_tensor(out, "output (first element)")
    expect_tensor(weights, "weights (second element)")
    return out, weights


def _check_sdpa_against_torch(impl, q, k, v, mask=None):
    full = mask  # F.scaled_dot_product_attention wants a mask of at least two dimensions
    if mask is not None:
        full = mask.expand(torch.broadcast_shapes(mask.shape, (*q.shape[:-1], k.shape[-2])))
    ref_out = F.scaled_dot_product_attention(q, k, v, attn_mask=full)
    ref_weights = _attend(q, k, v, full)[1]
    out, weights = _call_sdpa(impl, q, k, v, mask)
    mask = full

    def mistakes(i):
        return lambda: {h: pair[i] for h, pair in _sdpa_mistakes(q, k, v, mask).items()}

    expect_close(
        weights, ref_weights, what="weights = softmax(q k^T / sqrt(d)) over the keys", **CLOSE,
        hint=_diagnose(weights, ref_weights, mistakes(1),
                       "weights have shape (..., Tq, Tk): one row per query, one column per key"),
    )
    expect_close(
        out, ref_out, what="output compared with F.scaled_dot_product_attention", **CLOSE,
        hint=_diagnose(out, ref_out, mistakes(0), "output = weights @ v, shape (..., Tq, dv)"),
    )


# ---------------------------------------------------------------- scaled_dot_product_attention


@scaled_dot_product_attention
def test_sdpa_returns_output_and_weights_with_their_shapes(impl):
    q, k, v = _randn(2, 5, 4, seed=1), _randn(2, 7, 4, seed=2), _randn(2, 7, 3, seed=3)
    out, weights = _call_sdpa(impl, q, k, v)
    expect_shape(out, (2, 5, 3), "output", "output is (..., Tq, dv): one row per query, as wide as the values")
    expect_shape(weights, (2, 5, 7), "weights", "weights are (..., Tq, Tk): one row per query, one column per key")
    expect_dtype(out, F64, "output", "keep the dtype of the inputs")
    expect_dtype(weights, F64, "weights", "keep the dtype of the inputs")


@scaled_dot_product_attention
def test_sdpa_leaves_its_inputs_unchanged(impl):
    q, k, v = _randn(2, 4, 3, seed=69), _randn(2, 5, 3, seed=70), _randn(2, 5, 2, seed=71)
    mask = _random_mask(4, 5, seed=72)
    before = [t.clone() for t in (q, k, v, mask)]
    _call_sdpa(impl, q, k, v, mask)
    for name, t, b in zip(("q", "k", "v", "mask"), (q, k, v, mask), before):
        expect_equal(t, b, what=f"{name} after scaled_dot_product_attention",
                     hint="scale the scores or a new q (q / sqrt(d)), never the caller's q in place (q /= ..., "
                          "div_); build the inverted mask with ~mask, not mask.logical_not_()")


@scaled_dot_product_attention
def test_sdpa_matches_torch_without_mask(impl):
    q, k, v = _randn(2, 3, 5, 8, seed=1), _randn(2, 3, 7, 8, seed=2), _randn(2, 3, 7, 6, seed=3)
    _check_sdpa_against_torch(impl, q, k, v)


@scaled_dot_product_attention
def test_sdpa_mask_defaults_to_none(impl):
    q, k, v = _randn(4, 3, seed=1), _randn(6, 3, seed=2), _randn(6, 2, seed=3)
    got = _sdpa_by_hand(impl, q, k, v)
    expect(isinstance(got, tuple) and len(got) == 2, f"expected (output, weights), got {type(got).__name__}")
    expect_close(got[0], F.scaled_dot_product_attention(q, k, v), what="output without a mask argument", **CLOSE,
                 hint="mask=None means every query may attend to every key")


@scaled_dot_product_attention
def test_sdpa_matches_torch_with_mask(impl):
    q, k, v = _randn(2, 3, 5, 4, seed=4), _randn(2, 3, 7, 4, seed=5), _randn(2, 3, 7, 6, seed=6)
    _check_sdpa_against_torch(impl, q, k, v, _random_mask(2, 3, 5, 7, seed=7))


@scaled_dot_product_attention
@pytest.mark.parametrize(
    "mask_shape",
    [(5, 7), (1, 7), (2, 1, 1, 7), (3, 5, 7), (2, 1, 5, 7)],
    ids=["(Tq,Tk)", "(1,Tk)", "(B,1,1,Tk)", "(H,Tq,Tk)", "(B,1,Tq,Tk)"],
)
def test_sdpa_broadcasts_the_mask(impl, mask_shape):
    q, k, v = _randn(2, 3, 5, 4, seed=8), _randn(2, 3, 7, 4, seed=9), _randn(2, 3, 7, 6, seed=10)
    _check_sdpa_against_torch(impl, q, k, v, _random_mask(*mask_shape, seed=11))


@scaled_dot_product_attention
@pytest.mark.parametrize("lead", [(), (4,), (2, 3), (2, 1, 3)], ids=["(Tq,d)", "(B,Tq,d)", "(B,H,Tq,d)", "5d"])
def test_sdpa_accepts_any_leading_dims(impl, lead):
    q, k, v = _randn(*lead, 5, 4, seed=12), _randn(*lead, 6, 4, seed=13), _randn(*lead, 6, 3, seed=14)
    mask = _random_mask(5, 6, seed=15)
    out, weights = _call_sdpa(impl, q, k, v, mask)
    expect_shape(out, (*lead, 5, 3), "output", "work on the last two axes only (k.transpose(-2, -1), softmax dim=-1)")
    _check_sdpa_against_torch(impl, q, k, v, mask)


@scaled_dot_product_attention
def test_sdpa_weight_rows_sum_to_one(impl):
    q, k, v = _randn(3, 6, 5, seed=16), _randn(3, 8, 5, seed=17), _randn(3, 8, 2, seed=18)
    mask = _random_mask(3, 6, 8, seed=19, p=0.4)
    _, weights = _call_sdpa(impl, q, k, v, mask)
    expect_shape(weights, (3, 6, 8), "weights")
    row_sums = weights.detach().sum(-1)
    col_sums = weights.detach().sum(-2)
    hint = "normalise over the keys (softmax over the last axis), after masking the scores"
    if torch.allclose(col_sums, torch.ones_like(col_sums)):
        hint = "the columns sum to 1, not the rows: the softmax runs over the queries axis; use the keys axis (-1)"
    expect_close(row_sums, torch.ones(3, 6, dtype=F64), what="each query's weights summed over the keys",
                 rtol=0, atol=1e-6, hint=hint)


@scaled_dot_product_attention
def test_sdpa_masked_weights_are_exactly_zero(impl):
    q, k, v = _randn(2, 5, 4, seed=20), _randn(2, 6, 4, seed=21), _randn(2, 6, 3, seed=22)
    mask = _random_mask(2, 5, 6, seed=23, p=0.5)
    _, weights = _call_sdpa(impl, q, k, v, mask)
    expect_shape(weights, (2, 5, 6), "weights")
    leaked = weights.detach()[~mask]
    expect(
        bool((leaked == 0).all()),
        f"weights where the mask is False should be exactly 0; the largest is {leaked.abs().max().item():.3g}",
        "set masked scores to -inf (or the dtype's most negative value) BEFORE the softmax; "
        "True means 'may attend', so the masked entries are where the mask is False",
    )


@scaled_dot_product_attention
def test_sdpa_fully_masked_row_gives_zero_weights_and_output(impl):
    q, k, v = _randn(2, 4, 3, seed=24), _randn(2, 5, 3, seed=25), _randn(2, 5, 2, seed=26)
    mask = _random_mask(2, 4, 5, seed=27)
    mask[:, 1] = False  # query 1 may attend to nothing
    out, weights = _call_sdpa(impl, q, k, v, mask)
    expect_shape(out, (2, 4, 2), "output")
    expect_shape(weights, (2, 4, 5), "weights")
    nan_hint = ("a fully masked row is all -inf, and softmax of it is 0/0 = NaN: fill with a finite "
                "very negative value, or zero such rows out yourself (not with a NaN in the graph)")
    expect(bool(torch.isfinite(weights).all()), "weights contain NaN or inf for a fully masked query", nan_hint)
    expect(bool(torch.isfinite(out).all()), "output contains NaN or inf for a fully masked query", nan_hint)
    expect_equal(weights[:, 1], torch.zeros(2, 5, dtype=F64), what="weights of the fully masked query",
                 hint="a query that may attend to nothing gets all-zero weights (not uniform ones)")
    expect_equal(out[:, 1], torch.zeros(2, 2, dtype=F64), what="output of the fully masked query",
                 hint="zero weights give a zero output")
    ref_out, ref_weights = _attend(q, k, v, mask)
    expect_close(weights, ref_weights, what="weights of the other queries", **CLOSE,
                 hint="one fully masked query must not change the others")
    expect_close(out, ref_out, what="output of the other queries", **CLOSE,
                 hint="one fully masked query must not change the others")


@scaled_dot_product_attention
def test_sdpa_fully_masked_row_has_finite_gradients(impl):
    q, k, v = _randn(4, 3, seed=28), _randn(5, 3, seed=29), _randn(5, 2, seed=30)
    mask = _random_mask(4, 5, seed=31)
    mask[2] = False
    grad_out, grad_weights = _randn(4, 2, seed=32), _randn(4, 5, seed=33)
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    out, weights = _call_sdpa(impl, *leaves, mask)
    expect(out.requires_grad and weights.requires_grad, "output and weights must stay in the autograd graph",
           "do not detach or compute under no_grad: attention is trained by backprop")
    ((out * grad_out).sum() + (weights * grad_weights).sum()).backward()
    ref_leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    ref_out, ref_weights = _attend(*ref_leaves, mask)
    ((ref_out * grad_out).sum() + (ref_weights * grad_weights).sum()).backward()
    for name, got, ref in zip("qkv", leaves, ref_leaves):
        expect(got.grad is not None, f"no gradient reached {name}")
        expect(
            bool(torch.isfinite(got.grad).all()),
            f"the gradient of {name} has NaN or inf when one query is fully masked",
            "the forward may look fine (e.g. nan_to_num after the softmax) while the backward still goes "
            "through 0/0 (an additive -inf mask passes it on to q and k): keep NaN out of the graph, e.g. "
            "fill masked scores with a finite very negative number and zero the masked weights afterwards",
        )
        expect_close(got.grad, ref.grad, what=f"gradient of {name}", **CLOSE,
                     hint="a fully masked query's output is constantly 0, so it sends no gradient back")


@scaled_dot_product_attention
def test_sdpa_is_stable_for_large_scores(impl):
    q, k, v = _randn(2, 5, 4, seed=34, scale=60.0), _randn(2, 6, 4, seed=35, scale=60.0), _randn(2, 6, 3, seed=36)
    mask = _random_mask(2, 5, 6, seed=37)
    out, weights = _call_sdpa(impl, q, k, v, mask)
    hint = "exp of scores in the thousands overflows: use torch.softmax (it subtracts the row maximum)"
    expect(bool(torch.isfinite(out).all() and torch.isfinite(weights).all()),
           "NaN or inf for scores of magnitude ~1e3", hint)
    expect_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), what="output for large scores",
                 rtol=1e-7, atol=1e-9, hint=hint)


@scaled_dot_product_attention
def test_sdpa_masked_key_stays_hidden_however_large_its_score(impl):
    q = torch.tensor([[1.0, 1.0], [2.0, 0.5], [0.5, 2.0]], dtype=F64)  # every q . k_2 is about +5e4
    k = torch.tensor([[0.3, -0.2], [-0.1, 0.4], [2e4, 2e4], [0.2, 0.1]], dtype=F64)
    v = _randn(4, 3, seed=51)
    mask = torch.tensor([True, True, False, True])  # key 2 is masked for every query
    out, weights = _call_sdpa(impl, q, k, v, mask)
    hint = ("a masked key must get weight 0 whatever its score: replace masked scores (masked_fill / torch.where "
            "with -inf or the dtype's most negative value); adding a finite penalty such as -1e4 loses against "
            "a score of +5e4")
    expect_shape(weights, (3, 4), "weights")
    expect_equal(weights[:, 2], torch.zeros(3, dtype=F64), what="weights of the masked key with score ~5e4",
                 hint=hint)
    ref_out, ref_weights = _attend(q, k, v, mask)
    expect_close(weights, ref_weights, what="weights with one masked high-score key", **CLOSE, hint=hint)
    expect_close(out, ref_out, what="output with one masked high-score key", **CLOSE, hint=hint)


@scaled_dot_product_attention
def test_sdpa_takes_masks_of_every_broadcastable_shape_and_layout(impl):
    q, k, v = _randn(2, 3, 5, 4, seed=52), _randn(2, 3, 7, 4, seed=53), _randn(2, 3, 7, 6, seed=54)
    masks = {
        "(Tk,), one flag per key": _random_mask(7, seed=55),
        "(1, 1, Tk)": _random_mask(1, 1, 7, seed=56),
        "0-dim True (everything allowed)": torch.tensor(True),
        "(B, H, Tq, Tk) expanded from (Tq, Tk) (stride 0)": _random_mask(5, 7, seed=57).expand(2, 3, 5, 7),
        "(Tq, Tk) as a transposed view (non-contiguous)": _random_mask(7, 5, seed=58).T,
    }
    for case, mask in masks.items():
        try:
            _check_sdpa_against_torch(impl, q, k, v, mask)
        except AssertionError as err:
            fail(f"with a mask of shape {case}: {str(err).split('] ', 1)[-1]}",
                 "the mask only has to broadcast to (..., Tq, Tk): pass it to masked_fill / torch.where as it is, "
                 "without reshaping, viewing or indexing it by position")


@scaled_dot_product_attention
def test_sdpa_per_query_mask_of_shape_tq_by_1(impl):
    q, k, v = _randn(2, 5, 4, seed=59), _randn(2, 6, 4, seed=60), _randn(2, 6, 3, seed=61)
    mask = torch.tensor([True, True, False, True, False]).unsqueeze(-1)  # (Tq, 1): queries 2 and 4 see nothing
    out, weights = _call_sdpa(impl, q, k, v, mask)
    ref_out, ref_weights = _attend(q, k, v, mask)
    hint = ("a (Tq, 1) mask broadcasts along the keys: a False row hides every key from that query, which then "
            "gets zero weights and a zero output")
    expect_close(weights, ref_weights, what="weights with a (Tq, 1) mask", **CLOSE, hint=hint)
    expect_close(out, ref_out, what="output with a (Tq, 1) mask", **CLOSE, hint=hint)


@scaled_dot_product_attention
@pytest.mark.parametrize(
    "shapes",
    [((1, 4, 3), (1, 6, 3), (1, 6, 2)), ((2, 1, 3), (2, 6, 3), (2, 6, 2)), ((2, 4, 3), (2, 1, 3), (2, 1, 2)),
     ((1, 1, 1, 3), (1, 1, 1, 3), (1, 1, 1, 1))],
    ids=["batch-of-one", "one-query", "one-key", "all-ones"],
)
def test_sdpa_keeps_dimensions_of_size_one(impl, shapes):
    (q_shape, k_shape, v_shape) = shapes
    q, k, v = _randn(*q_shape, seed=62), _randn(*k_shape, seed=63), _randn(*v_shape, seed=64)
    out, weights = _call_sdpa(impl, q, k, v)
    hint = ("a dimension of size 1 (one query while decoding, one key, a batch of one) is still a dimension: "
            "never squeeze() the scores or the output")
    expect_shape(out, (*q_shape[:-1], v_shape[-1]), "output", hint)
    expect_shape(weights, (*q_shape[:-1], k_shape[-2]), "weights", hint)
    _check_sdpa_against_torch(impl, q, k, v)


@scaled_dot_product_attention
def test_sdpa_takes_non_contiguous_queries_keys_and_values(impl):
    # the layout multi-head attention hands over: (B, T, H, d) transposed to (B, H, T, d), not contiguous
    q = _randn(2, 5, 3, 4, seed=65).transpose(1, 2)
    k = _randn(2, 7, 3, 4, seed=66).transpose(1, 2)
    v = _randn(2, 3, 6, 7, seed=67).transpose(-2, -1)  # (B, H, Tk=7, dv=6) from a (B, H, dv, Tk) tensor
    mask = _random_mask(5, 7, seed=68)
    expect(not q.is_contiguous() and not v.is_contiguous(), "test bug: q and v should be non-contiguous")
    try:
        _check_sdpa_against_torch(impl, q, k, v, mask)
    except AssertionError:
        raise
    except RuntimeError as err:
        fail(f"raised RuntimeError for transposed (non-contiguous) q, k, v: {err}",
             "q, k, v may be non-contiguous views (multi-head attention makes them with transpose(1, 2)): use "
             "matmul / transpose(-2, -1) / reshape, not view(), to combine them")


@scaled_dot_product_attention
@pytest.mark.parametrize("dtype", [torch.bfloat16], ids=["bfloat16"])
def test_sdpa_half_precision_with_a_fully_masked_row(impl, dtype):
    # float16 is left out on purpose (the docstring leaves it open): a fill of -1e9, which float16
    # cannot hold, is a common, otherwise correct style.
    q, k, v = (_randn(2, 4, 3, seed=73), _randn(2, 5, 3, seed=74), _randn(2, 5, 2, seed=75))
    mask = _random_mask(4, 5, seed=76)
    mask[1] = False
    leaves = [t.to(dtype).requires_grad_() for t in (q, k, v)]
    hint = ("compute in the dtype of q, k and v, and keep a fully masked query finite: zero its weights "
            "(after the softmax) rather than letting every score be -inf")
    try:
        out, weights = _call_sdpa(impl, *leaves, mask)
    except AssertionError:
        raise
    except RuntimeError as err:
        fail(f"raised RuntimeError for {dtype} inputs: {err}", hint)
    ref_out, ref_weights = _attend(*(t.detach().double() for t in leaves), mask)
    tol = {"rtol": 2e-2, "atol": 2e-2}
    expect_close(weights, ref_weights.to(dtype), what=f"weights in {dtype}", **tol, hint=hint)
    expect_close(out, ref_out.to(dtype), what=f"output in {dtype}", **tol, hint=hint)
    expect_equal(out[:, 1], torch.zeros(2, 2, dtype=dtype), what=f"output of the fully masked query in {dtype}",
                 hint=hint)
    (out.float().sum() + (weights.float() * _randn(2, 4, 5, seed=77)).sum()).backward()
    for name, t in zip("qkv", leaves):
        expect(t.grad is not None and bool(torch.isfinite(t.grad).all()),
               f"the gradient of {name} is missing or has NaN/inf for {dtype} inputs with a fully masked query", hint)


@scaled_dot_product_attention
def test_sdpa_keeps_float32(impl):
    q, k, v = (_randn(2, 5, 4, seed=s, dtype=torch.float32) for s in (38, 39, 40))
    out, weights = _call_sdpa(impl, q, k, v, _random_mask(5, 5, seed=41))
    expect_dtype(out, torch.float32, "output", "compute in the dtype of q, k and v")
    expect_dtype(weights, torch.float32, "weights", "compute in the dtype of q, k and v")


@scaled_dot_product_attention
@pytest.mark.cuda
def test_sdpa_on_cuda_matches_cpu_and_has_no_nan(impl):
    q, k, v = _randn(2, 2, 5, 8, seed=42), _randn(2, 2, 6, 8, seed=43), _randn(2, 2, 6, 4, seed=44)
    mask = _random_mask(2, 2, 5, 6, seed=45)
    mask[0, 1, 3] = False  # one fully masked query
    out, weights = _call_sdpa(impl, *(t.float().cuda() for t in (q, k, v)), mask.cuda())
    expect_device(out, "cuda", "output", "compute where the inputs live")
    expect(bool(torch.isfinite(out).all() and torch.isfinite(weights).all()),
           "NaN or inf on CUDA for a fully masked query",
           "the fused CUDA kernels of F.scaled_dot_product_attention may return NaN for a fully masked row: "
           "handle that row yourself")
    ref_out, ref_weights = _attend(q, k, v, mask)
    expect_close(out.cpu(), ref_out.float(), what="output on CUDA", rtol=1e-4, atol=1e-5)
    expect_close(weights.cpu(), ref_weights.float(), what="weights on CUDA", rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- causal_mask


@causal_mask
def test_causal_mask_is_a_bool_square_matrix(impl):
    mask = impl.causal_mask(5)
    expect_shape(mask, (5, 5), "causal_mask(5)", "one row per query, one column per key: (T, T)")
    expect_dtype(mask, torch.bool, "causal_mask(5)",
                 "a boolean mask (True = may attend), not 0/1 floats or an additive -inf mask")
    expect_device(mask, "cpu", "causal_mask(5)", "device=None means the CPU")


@causal_mask
@pytest.mark.parametrize("seq_len", [1, 2, 6])
def test_causal_mask_is_true_on_and_below_the_diagonal(impl, seq_len):
    mask = impl.causal_mask(seq_len)
    expected = torch.ones(seq_len, seq_len).tril().bool()
    hint = "row i (a query) may attend to columns 0..i (itself and the past)"
    if isinstance(mask, torch.Tensor) and mask.shape == expected.shape:
        if torch.equal(mask.bool(), expected.T):
            hint = "this is the upper triangle: every token would attend to the future, not the past"
        elif torch.equal(mask.bool(), expected.tril(-1)):
            hint = "the diagonal is missing: a token may attend to itself (and token 0 would see nothing)"
        elif torch.equal(mask.bool(), ~expected):
            hint = "inverted: True means 'may attend' here, the opposite of nn.MultiheadAttention's mask"
    expect_equal(mask, expected, what=f"causal_mask({seq_len})", hint=hint)


@causal_mask
@pytest.mark.parametrize("device", devices())
def test_causal_mask_is_created_on_the_device(impl, device):
    for dev in (device, torch.device(device)):
        mask = impl.causal_mask(4, device=dev)
        expect_device(mask, dev, f"causal_mask(4, device={dev!r})",
                      "create it on the device directly (torch.ones(..., device=device)), no CPU round trip")
        expect_equal(mask.cpu(), torch.ones(4, 4).tril().bool(), what=f"causal_mask(4, device={dev!r})")


@causal_mask
def test_causal_mask_honours_the_device_argument(impl):
    hint = ("pass device=device when you create the mask (torch.ones(..., device=device)), so a CUDA model gets "
            "a CUDA mask")
    if torch.cuda.is_available():
        expect_device(impl.causal_mask(4, device="cuda"), "cuda", "causal_mask(4, device='cuda')", hint)
        return
    # Without a GPU, creating anything on "cuda" raises: a mask that comes back was built on another device.
    try:
        mask = impl.causal_mask(4, device="cuda")
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001 - any error here means the mask was really asked of CUDA
        return
    fail(f"causal_mask(4, device='cuda') returned a tensor on {getattr(mask, 'device', None)} on a machine without "
         "CUDA: the device argument was ignored", hint)


@causal_mask
def test_causal_mask_stops_sdpa_from_seeing_the_future(impl):
    q, k, v = _randn(1, 6, 4, seed=46), _randn(1, 6, 4, seed=47), _randn(1, 6, 3, seed=48)
    mask = impl.causal_mask(6)
    out, weights = _call_sdpa(impl, q, k, v, mask)
    k2, v2 = k.clone(), v.clone()
    k2[:, 4:], v2[:, 4:] = _randn(1, 2, 4, seed=49), _randn(1, 2, 3, seed=50)
    out2, _ = _call_sdpa(impl, q, k2, v2, mask)
    expect_close(out2[:, :4], out[:, :4], what="outputs of positions 0..3 after changing tokens 4 and 5",
                 rtol=0, atol=1e-12, hint="a later token changed an earlier output: the mask lets the future in")
    expect_equal(weights[0].triu(1), torch.zeros(6, 6, dtype=F64), what="weights above the diagonal",
                 hint="no query may attend to a later key")


# ---------------------------------------------------------------- sinusoidal_positional_encoding


def _pe_formula(seq_len: int, d_model: int, *, swap=False, exponent_factor=1.0) -> torch.Tensor:
    p = torch.arange(seq_len, dtype=F64).unsqueeze(1)
    two_i = torch.arange(0, d_model, 2, dtype=F64)
    angle = p / 10000 ** (exponent_factor * two_i / d_model)
    pe = torch.empty(seq_len, d_model, dtype=F64)
    pe[:, 0::2], pe[:, 1::2] = (angle.cos(), angle.sin()) if swap else (angle.sin(), angle.cos())
    return pe


@sinusoidal_positional_encoding
def test_positional_encoding_shape_and_dtype(impl):
    pe = impl.sinusoidal_positional_encoding(10, 6)
    expect_shape(pe, (10, 6), "sinusoidal_positional_encoding(10, 6)", "one row per position: (seq_len, d_model)")
    expect_dtype(pe, torch.float32, "sinusoidal_positional_encoding(10, 6)",
                 "it is added to float32 embeddings: return float32 (compute in float64 first if you like)")


@sinusoidal_positional_encoding
def test_positional_encoding_position_zero_is_sin0_cos0(impl):
    pe = impl.sinusoidal_positional_encoding(3, 8)
    expect_shape(pe, (3, 8), "sinusoidal_positional_encoding(3, 8)")
    hint = "PE[0, 2i] = sin(0) = 0 and PE[0, 2i+1] = cos(0) = 1"
    if torch.allclose(pe[0].double(), torch.tensor([1.0, 0.0] * 4, dtype=F64)):
        hint = "sin and cos are swapped: sin goes on the even columns 2i, cos on the odd columns 2i+1"
    expect_close(pe[0], torch.tensor([0.0, 1.0] * 4), what="PE at position 0", rtol=0, atol=1e-6, hint=hint)


@sinusoidal_positional_encoding
@pytest.mark.parametrize("seq_len,d_model", [(1, 2), (12, 6), (64, 32), (128, 64)])
def test_positional_encoding_matches_the_formula(impl, seq_len, d_model):
    pe = impl.sinusoidal_positional_encoding(seq_len, d_model)
    expected = _pe_formula(seq_len, d_model)
    hint = _diagnose(
        pe, expected,
        lambda: {
            "sin and cos are swapped: sin on the even columns 2i, cos on the odd columns 2i+1": _pe_formula(
                seq_len, d_model, swap=True),
            "the exponent is twice too large: column 2i uses 10000^(2i/d_model), and 2i is already the even "
            "column index": _pe_formula(seq_len, d_model, exponent_factor=2.0),
            "the exponent is half what it should be: the frequency of the pair (2i, 2i+1) is "
            "10000^(-2i/d_model), with 2i the even column index, not i": _pe_formula(
                seq_len, d_model, exponent_factor=0.5),
        },
        "PE[p, 2i] = sin(p / 10000^(2i/d_model)), PE[p, 2i+1] = cos(p / 10000^(2i/d_model))",
    )
    expect_close(pe, expected, what=f"sinusoidal_positional_encoding({seq_len}, {d_model}) against the formula",
                 rtol=0, atol=1e-4, hint=hint, check_dtype=False)


@sinusoidal_positional_encoding
def test_positional_encoding_rejects_odd_d_model(impl):
    with expect_raises(ValueError, "sinusoidal_positional_encoding(4, 7)", names=7):
        impl.sinusoidal_positional_encoding(4, 7)


# ---------------------------------------------------------------- MultiHeadSelfAttention


def _linear(module, name: str, what: str) -> nn.Linear:
    sub = getattr(module, name, None)
    expect(isinstance(sub, nn.Linear), f"{what}.{name} should be an nn.Linear, got {type(sub).__name__}",
           f"the curriculum fixes the submodule names: create self.{name} = nn.Linear(...) in __init__")
    return sub


def _fill_mhsa(m, d_model: int, bias: bool, seed: int) -> dict[str, torch.Tensor | None]:
    """Give the learner's MHSA seeded float64 weights (whatever its own init) and return them."""
    m.double()
    g = torch.Generator().manual_seed(seed)
    params = {}
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        lin = _linear(m, name, "MultiHeadSelfAttention")
        w = torch.randn(d_model, d_model, generator=g, dtype=F64) / math.sqrt(d_model)
        b = torch.randn(d_model, generator=g, dtype=F64) * 0.5 if bias else None
        with torch.no_grad():
            lin.weight.copy_(w)
            if bias:
                lin.bias.copy_(b)
        params[name] = (w, b)
    return params


def _torch_mha(params, d_model: int, n_heads: int, bias: bool) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(d_model, n_heads, bias=bias, batch_first=True, dtype=F64)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([params[n][0] for n in ("q_proj", "k_proj", "v_proj")]))
        ref.out_proj.weight.copy_(params["out_proj"][0])
        if bias:
            ref.in_proj_bias.copy_(torch.cat([params[n][1] for n in ("q_proj", "k_proj", "v_proj")]))
            ref.out_proj.bias.copy_(params["out_proj"][1])
    return ref


def _torch_mha_mask(mask, batch: int, n_heads: int, seq_len: int):
    """Ours (True = may attend, broadcastable) -> nn.MultiheadAttention's (True = NOT allowed)."""
    if mask is None or mask.shape == (seq_len, seq_len):
        return None if mask is None else ~mask
    return ~mask.expand(batch, n_heads, seq_len, seq_len).reshape(batch * n_heads, seq_len, seq_len)


def _mhsa_mistakes(x, params, n_heads, mask) -> dict[str, torch.Tensor]:
    """Outputs of the classic head-handling mistakes, keyed by the hint that names each."""
    B, T, D = x.shape
    dh = D // n_heads

    def lin(name, t):
        w, b = params[name]
        return F.linear(t, w, b)

    def run(scale, split, merge, mask=mask):
        heads = []
        for name in ("q_proj", "k_proj", "v_proj"):
            t = lin(name, x)
            heads.append(t.view(B, T, n_heads, dh).transpose(1, 2) if split else t.view(B, n_heads, T, dh))
        out, _ = _attend(*heads, mask, scale=math.sqrt(scale))
        if merge == "transpose":
            out = out.transpose(1, 2).reshape(B, T, D)
        elif merge == "reshape":
            out = out.reshape(B, T, D)
        else:
            out = out.permute(0, 2, 3, 1).reshape(B, T, D)
        return lin("out_proj", out)

    mistakes = {
        "the scores look scaled by sqrt(d_model): each head is a dot product of width d_head = d_model / "
        "n_heads, so scale by 1/sqrt(d_head)": run(D, True, "transpose"),
        "the scores look scaled by d_head instead of sqrt(d_head)": run(dh * dh, True, "transpose"),
        "the heads look split with a bare view(B, n_heads, T, d_head): reshape to (B, T, n_heads, d_head) "
        "first, then transpose(1, 2)": run(dh, False, "transpose"),
        "the heads look merged without transposing back: (B, H, T, d_head) -> transpose(1, 2) -> "
        "(B, T, H * d_head)": run(dh, True, "reshape"),
        "the heads look merged in the wrong order: the merged features must be head-major "
        "(head 0's d_head features, then head 1's, ...)": run(dh, True, "permute"),
    }
    if mask is not None:
        mistakes["the mask looks ignored: pass it on to the attention of every head (it broadcasts over "
                 "(B, n_heads))"] = run(dh, True, "transpose", mask=None)
    return mistakes


MHSA_RULE = ("MultiHeadSelfAttention is written from its parts, not by wrapping nn.MultiheadAttention (nor "
             "F.multi_head_attention_forward)")
MHSA_BY_HAND = ("q_proj, k_proj, v_proj, split into heads (B, n_heads, T, d_head), attend (your "
                "scaled_dot_product_attention, or F.scaled_dot_product_attention), merge the heads back, out_proj")
MHSA_SHORTCUTS = [
    (nn.MultiheadAttention, "forward", "nn.MultiheadAttention"),
    (F, "multi_head_attention_forward", "F.multi_head_attention_forward"),
]


def _mhsa_forward(m, x, mask=None):
    """m(x) or m(x, mask=mask), with nn.MultiheadAttention refused, by any name."""
    __tracebackhide__ = True
    kwargs = {} if mask is None else {"mask": mask}
    return call_refusing(m, x, rule=MHSA_RULE, hint=MHSA_BY_HAND, attributes=MHSA_SHORTCUTS,
                         names=("multi_head_attention",), **kwargs)


def _run_mhsa(impl, x, d_model, n_heads, bias, mask=None, seed=0):
    m = impl.MultiHeadSelfAttention(d_model, n_heads, bias=bias)
    params = _fill_mhsa(m, d_model, bias, seed)
    out = _mhsa_forward(m, x, mask)
    return m, params, out


def _check_mhsa_against_torch(impl, d_model, n_heads, bias, mask=None, B=2, T=5):
    x = _randn(B, T, d_model, seed=60)
    _, params, out = _run_mhsa(impl, x, d_model, n_heads, bias, mask, seed=61)
    ref = _torch_mha(params, d_model, n_heads, bias)
    ref_out, _ = ref(x, x, x, attn_mask=_torch_mha_mask(mask, B, n_heads, T), need_weights=False)
    hint = _diagnose(out, ref_out, lambda: _mhsa_mistakes(x, params, n_heads, mask),
                     "project, split into heads (B, n_heads, T, d_head), attend per head, merge back, out_proj")
    expect_close(out, ref_out, what=f"output vs nn.MultiheadAttention (d_model={d_model}, n_heads={n_heads}, "
                 f"bias={bias}, mask={None if mask is None else tuple(mask.shape)})", **CLOSE, hint=hint)


@MultiHeadSelfAttention
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_mhsa_has_four_linear_projections(impl, bias):
    m = impl.MultiHeadSelfAttention(12, 3, bias=bias)
    expect(isinstance(m, nn.Module), f"MultiHeadSelfAttention should be an nn.Module, got {type(m).__name__}")
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        lin = _linear(m, name, "MultiHeadSelfAttention")
        expect((lin.in_features, lin.out_features) == (12, 12),
               f"{name} maps {lin.in_features} -> {lin.out_features} features, expected 12 -> 12",
               "every projection is nn.Linear(d_model, d_model): the heads are slices of its output")
        expect((lin.bias is not None) == bias, f"{name}.bias is {'missing' if lin.bias is None else 'present'} "
               f"with bias={bias}", "pass bias=bias to every nn.Linear")


@MultiHeadSelfAttention
def test_mhsa_rejects_d_model_not_divisible_by_n_heads(impl):
    what = "MultiHeadSelfAttention(d_model=10, n_heads=4)"
    try:
        impl.MultiHeadSelfAttention(10, 4)
    except NotImplementedError:
        raise
    except ValueError as err:  # either number is "the offending value": naming one of them is enough
        expect(re.search(r"(?<!\d)(10|4)(?!\d)", str(err)),
               f"{what}: raised ValueError as it should, but its message {str(err)!r} names neither d_model=10 "
               "nor n_heads=4", "say which values do not fit, so the caller can fix them without reading your code")
        return
    except Exception as err:  # noqa: BLE001
        fail(f"{what}: expected ValueError, got {type(err).__name__}: {err}",
             "check d_model % n_heads in __init__ and raise ValueError yourself")
    fail(f"{what}: expected ValueError, but nothing was raised",
         "10 features cannot be cut into 4 equal heads: check d_model % n_heads in __init__")


def _names(message: str, value: int) -> bool:
    return re.search(rf"(?<![\d-]){value}(?!\d)", message) is not None


@MultiHeadSelfAttention
@pytest.mark.parametrize("d_model,n_heads", [(8, 0), (8, -2), (12, -3), (1, 0), (8, 3), (12, 5), (6, 4), (3, 6),
                                             (7, 2), (100, 7)])
def test_mhsa_rejects_every_head_count_that_does_not_split_d_model(impl, d_model, n_heads):
    what = f"MultiHeadSelfAttention(d_model={d_model}, n_heads={n_heads})"
    hint = ("n_heads must be at least 1 and divide d_model: check both in __init__ and raise ValueError yourself "
            "(d_model % 0 is a ZeroDivisionError, and d_model % n_heads is 0 for a negative n_heads that divides it)")
    error = None
    try:
        impl.MultiHeadSelfAttention(d_model, n_heads)
    except NotImplementedError:
        raise
    except Exception as err:  # noqa: BLE001 - judged below, outside the handler
        error = err
    expect(error is not None, f"{what}: expected ValueError, but nothing was raised", hint)
    expect(isinstance(error, ValueError), f"{what}: expected ValueError, got {type(error).__name__}: {error}", hint)
    wanted = [n_heads] if n_heads < 1 else [d_model, n_heads]
    missing = [v for v in wanted if not _names(str(error), v)]
    expect(not missing, f"{what}: raised ValueError as it should, but its message {str(error)!r} does not name "
           f"{' nor '.join(map(str, missing))}",
           "say which values do not fit (n_heads, and d_model when it does not divide), so the caller can fix them")


@MultiHeadSelfAttention
def test_mhsa_output_shape_and_dtype(impl):
    m = impl.MultiHeadSelfAttention(12, 3)
    out = _mhsa_forward(m, torch.randn(2, 5, 12))
    expect_shape(out, (2, 5, 12), "MultiHeadSelfAttention(12, 3)(x of shape (2, 5, 12))",
                 "merge the heads back to (B, T, d_model) and apply out_proj")
    expect_dtype(out, torch.float32, "output for float32 input")


@MultiHeadSelfAttention
@pytest.mark.parametrize(
    "d_model,n_heads,bias", [(8, 1, True), (12, 3, True), (12, 3, False), (16, 4, True)],
    ids=["1-head", "3-heads", "3-heads-no-bias", "4-heads"],
)
def test_mhsa_matches_nn_multihead_attention(impl, d_model, n_heads, bias):
    _check_mhsa_against_torch(impl, d_model, n_heads, bias)


@MultiHeadSelfAttention
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_mhsa_matches_torch_with_a_causal_mask(impl, bias):
    _check_mhsa_against_torch(impl, 12, 3, bias, torch.ones(5, 5).tril().bool())


@MultiHeadSelfAttention
def test_mhsa_matches_torch_with_a_per_head_mask(impl):
    _check_mhsa_against_torch(impl, 12, 3, True, _random_mask(2, 3, 5, 5, seed=62, p=0.5))


@MultiHeadSelfAttention
def test_mhsa_matches_torch_with_a_padding_mask(impl):
    keys = torch.tensor([[True, True, True, False, False], [True, True, True, True, True]])
    _check_mhsa_against_torch(impl, 12, 3, True, keys[:, None, None, :])  # (B, 1, 1, T)


@MultiHeadSelfAttention
def test_mhsa_is_causal_with_a_causal_mask(impl):
    x = _randn(2, 6, 12, seed=63)
    m, _, out = _run_mhsa(impl, x, 12, 3, True, torch.ones(6, 6).tril().bool(), seed=64)
    x2 = x.clone()
    x2[:, 4:] = _randn(2, 2, 12, seed=65)
    out2 = _mhsa_forward(m, x2, torch.ones(6, 6).tril().bool())
    expect_close(out2[:, :4], out[:, :4], what="outputs of positions 0..3 after changing tokens 4 and 5",
                 rtol=0, atol=1e-12,
                 hint="a later token changed an earlier output: is the mask passed to every head, True = may attend?")


@MultiHeadSelfAttention
def test_mhsa_is_permutation_equivariant_without_positions(impl):
    x = _randn(2, 6, 12, seed=66)
    m, _, out = _run_mhsa(impl, x, 12, 3, True, seed=67)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    expect_close(_mhsa_forward(m, x[:, perm]), out[:, perm], what="output for shuffled tokens vs shuffled output",
                 **CLOSE,
                 hint="without positional encoding or a mask, attention treats the tokens as a set: shuffling "
                      "them must shuffle the outputs the same way. Do tokens get mixed when the heads are split?")


@MultiHeadSelfAttention
def test_mhsa_gradients_match_nn_multihead_attention(impl):
    x = _randn(2, 5, 12, seed=68).requires_grad_()
    m, params, out = _run_mhsa(impl, x, 12, 3, True, torch.ones(5, 5).tril().bool(), seed=69)
    grad_out = _randn(2, 5, 12, seed=70)
    (out * grad_out).sum().backward()
    x_ref = x.detach().clone().requires_grad_()
    ref = _torch_mha(params, 12, 3, True)
    ref_out, _ = ref(x_ref, x_ref, x_ref, attn_mask=~torch.ones(5, 5).tril().bool(), need_weights=False)
    (ref_out * grad_out).sum().backward()
    expect_close(x.grad, x_ref.grad, what="gradient of the input x", **CLOSE,
                 hint="keep everything in the autograd graph (no detach, no .data)")
    expect_close(m.q_proj.weight.grad, ref.in_proj_weight.grad[:12], what="gradient of q_proj.weight", **CLOSE)
    expect_close(m.out_proj.weight.grad, ref.out_proj.weight.grad, what="gradient of out_proj.weight", **CLOSE)


@MultiHeadSelfAttention
@pytest.mark.parametrize("mask_shape", [(5,), (1, 5), (3, 5, 5), (2, 1, 5, 5)],
                         ids=["(T,)", "(1,T)", "(H,T,T)", "(B,1,T,T)"])
def test_mhsa_matches_torch_with_any_broadcastable_mask(impl, mask_shape):
    mask = _random_mask(*mask_shape, seed=73, p=0.5)
    try:
        _check_mhsa_against_torch(impl, 12, 3, True, mask)
    except (AssertionError, NotImplementedError):
        raise
    except Exception as err:  # noqa: BLE001 - any error here is the mask's: teach it
        hint = ("a (T,) mask says which keys every query may attend, and broadcasts like any other; "
                "F.scaled_dot_product_attention refuses a 1-D mask: hand it mask.view(1, -1)")
        fail(f"raised {raised(err)}\n    for a mask of shape {mask_shape} (B=2, n_heads=3, T=5)",
             hint if len(mask_shape) == 1 else
             "the mask broadcasts to (B, n_heads, T, T) from the right: a 3-D mask is (n_heads, T, T), not "
             "(B, T, T). Hand it to the attention as it is; it lines up with the (B, n_heads, T, T) scores")


@MultiHeadSelfAttention
@pytest.mark.parametrize("B,T", [(1, 5), (2, 1), (1, 1)], ids=["batch-of-one", "one-token", "one-of-each"])
def test_mhsa_keeps_dimensions_of_size_one(impl, B, T):
    _check_mhsa_against_torch(impl, 12, 3, True, torch.ones(T, T).tril().bool(), B=B, T=T)


@MultiHeadSelfAttention
def test_mhsa_takes_a_non_contiguous_input(impl):
    x = _randn(5, 2, 12, seed=74).transpose(0, 1)  # (B, T, d_model) seen through a (T, B, d_model) tensor
    mask = torch.ones(5, 5).tril().bool()
    hint = ("x may be a non-contiguous view (a transposed (T, B, d_model) batch): let the projections read it "
            "as it is, or use reshape(), never view(), on x itself")
    try:
        _, params, out = _run_mhsa(impl, x, 12, 3, True, mask, seed=75)
    except AssertionError:
        raise
    except RuntimeError as err:
        fail(f"raised RuntimeError for a transposed (non-contiguous) x: {err}", hint)
    ref_out, _ = _torch_mha(params, 12, 3, True)(x, x, x, attn_mask=~mask, need_weights=False)
    expect_close(out, ref_out, what="output for a non-contiguous x", **CLOSE, hint=hint)


@MultiHeadSelfAttention
def test_mhsa_leaves_its_input_unchanged(impl):
    x, mask = _randn(2, 5, 12, seed=76), _random_mask(2, 1, 5, 5, seed=77)
    before_x, before_mask = x.clone(), mask.clone()
    _run_mhsa(impl, x, 12, 3, True, mask, seed=78)
    expect_equal(x, before_x, what="x after MultiHeadSelfAttention", hint="build new tensors; never write into x")
    expect_equal(mask, before_mask, what="mask after MultiHeadSelfAttention",
                 hint="build the inverted or expanded mask as a new tensor, not in place")


@MultiHeadSelfAttention
@pytest.mark.cuda
def test_mhsa_on_cuda_matches_cpu(impl):
    x = _randn(2, 5, 12, seed=71)
    mask = torch.ones(5, 5).tril().bool()
    m, _, out = _run_mhsa(impl, x, 12, 3, True, mask, seed=72)
    m.float().cuda()
    got = _mhsa_forward(m, x.float().cuda(), mask.cuda())
    expect_device(got, "cuda", "output", "compute where the module and the input live")
    expect_close(got.cpu(), out.float(), what="output on CUDA vs CPU", rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- TransformerBlock


def _fill_block(b, d_model: int, d_ff: int, seed: int) -> nn.TransformerEncoderLayer:
    """Seeded float64 weights in the learner's block, copied into an nn.TransformerEncoderLayer."""
    b.double()
    g = torch.Generator().manual_seed(seed)
    attn = getattr(b, "attn", None)
    expect(attn is not None, "TransformerBlock has no submodule `attn`", "self.attn = MultiHeadSelfAttention(...)")
    params = _fill_mhsa(attn, d_model, True, seed)
    layers = {}
    for name in ("norm1", "norm2"):
        norm = getattr(b, name, None)
        expect(isinstance(norm, nn.LayerNorm), f"TransformerBlock.{name} should be an nn.LayerNorm, "
               f"got {type(norm).__name__}", f"self.{name} = nn.LayerNorm(d_model)")
        with torch.no_grad():
            norm.weight.copy_(1 + 0.3 * torch.randn(d_model, generator=g, dtype=F64))
            norm.bias.copy_(0.3 * torch.randn(d_model, generator=g, dtype=F64))
        layers[name] = norm
    ff = getattr(b, "ff", None)
    expect(isinstance(ff, nn.Sequential) and len(ff) == 3, "TransformerBlock.ff should be "
           "nn.Sequential(Linear, GELU, Linear)", "self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), "
           "nn.Linear(d_ff, d_model))")
    for i, (n_in, n_out) in ((0, (d_model, d_ff)), (2, (d_ff, d_model))):
        with torch.no_grad():
            ff[i].weight.copy_(torch.randn(n_out, n_in, generator=g, dtype=F64) / math.sqrt(n_in))
            ff[i].bias.copy_(0.3 * torch.randn(n_out, generator=g, dtype=F64))
    return params


def _torch_layer(b, params, d_model, n_heads, d_ff, *, norm_first=True, dropout=0.0):
    ref = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout=dropout, activation="gelu",
                                     batch_first=True, norm_first=norm_first, dtype=F64)
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(torch.cat([params[n][0] for n in ("q_proj", "k_proj", "v_proj")]))
        ref.self_attn.in_proj_bias.copy_(torch.cat([params[n][1] for n in ("q_proj", "k_proj", "v_proj")]))
        ref.self_attn.out_proj.weight.copy_(params["out_proj"][0])
        ref.self_attn.out_proj.bias.copy_(params["out_proj"][1])
        for name in ("norm1", "norm2"):
            getattr(ref, name).weight.copy_(getattr(b, name).weight)
            getattr(ref, name).bias.copy_(getattr(b, name).bias)
        for ours, theirs in ((b.ff[0], ref.linear1), (b.ff[2], ref.linear2)):
            theirs.weight.copy_(ours.weight)
            theirs.bias.copy_(ours.bias)
    return ref


def _residual_from_normed(ref: nn.TransformerEncoderLayer, x, src_mask):
    """The mistake h = norm(x); x = h + branch(h), built from the reference layer's own parts."""
    h = ref.norm1(x)
    x = h + ref.self_attn(h, h, h, attn_mask=src_mask, need_weights=False)[0]
    h = ref.norm2(x)
    return h + ref.linear2(F.gelu(ref.linear1(h)))


def _check_block_against_torch(impl, mask=None, B=2, T=5, d_model=12, n_heads=3, d_ff=20, transposed=False):
    b = impl.TransformerBlock(d_model, n_heads, d_ff)
    params = _fill_block(b, d_model, d_ff, seed=80)
    x = _randn(T, B, d_model, seed=81).transpose(0, 1) if transposed else _randn(B, T, d_model, seed=81)
    out = b(x) if mask is None else b(x, mask=mask)
    src_mask = _torch_mha_mask(mask, B, n_heads, T)
    ref = _torch_layer(b, params, d_model, n_heads, d_ff)
    ref_out = ref(x, src_mask=src_mask)

    def mistakes():
        wrong = {
            "this is post-LN (x = norm(x + sublayer(x))); the block is pre-LN: x = x + attn(norm1(x)), then "
            "x = x + ff(norm2(x))": _torch_layer(b, params, d_model, n_heads, d_ff, norm_first=False)(
                x, src_mask=src_mask),
            "the residual looks added to the normalised input (x = norm1(x) + attn(norm1(x))): pre-LN adds "
            "the branch to the raw x": _residual_from_normed(ref, x, src_mask),
        }
        if mask is not None:
            wrong["the mask looks ignored: pass it on to attn (that is what makes a decoder block causal)"] = ref(x)
        return wrong

    hint = _diagnose(out, ref_out, mistakes,
                     "pre-LN: x = x + attn(norm1(x), mask), then x = x + ff(norm2(x)); the residual adds the raw x")
    expect_close(out, ref_out, what=f"output vs nn.TransformerEncoderLayer(norm_first=True, activation='gelu'), "
                 f"mask={None if mask is None else tuple(mask.shape)}", **CLOSE, hint=hint)


@TransformerBlock
def test_block_has_the_named_submodules(impl):
    b = impl.TransformerBlock(12, 3, 20)
    expect(isinstance(b, nn.Module), f"TransformerBlock should be an nn.Module, got {type(b).__name__}")
    expect(isinstance(getattr(b, "attn", None), impl.MultiHeadSelfAttention),
           "TransformerBlock.attn should be your MultiHeadSelfAttention", "self.attn = MultiHeadSelfAttention(...)")
    expect(b.attn.q_proj.in_features == 12, f"attn works on d_model=12 features, got {b.attn.q_proj.in_features}")
    for name in ("norm1", "norm2"):
        norm = getattr(b, name, None)
        expect(isinstance(norm, nn.LayerNorm) and tuple(norm.normalized_shape) == (12,),
               f"TransformerBlock.{name} should be nn.LayerNorm(12), got {norm!r}",
               f"self.{name} = nn.LayerNorm(d_model)")
    ff = getattr(b, "ff", None)
    ok = (
        isinstance(ff, nn.Sequential) and len(ff) == 3
        and isinstance(ff[0], nn.Linear) and (ff[0].in_features, ff[0].out_features) == (12, 20)
        and isinstance(ff[1], nn.GELU)
        and isinstance(ff[2], nn.Linear) and (ff[2].in_features, ff[2].out_features) == (20, 12)
    )
    expect(ok, f"TransformerBlock.ff should be nn.Sequential(nn.Linear(12, 20), nn.GELU(), nn.Linear(20, 12)), "
           f"got {ff!r}", "the feed-forward widens to d_ff, applies GELU, and comes back to d_model")


@TransformerBlock
def test_block_leaves_its_input_unchanged(impl):
    b = impl.TransformerBlock(12, 3, 20)
    _fill_block(b, 12, 20, seed=97)
    x, mask = _randn(2, 5, 12, seed=98), torch.ones(5, 5).tril().bool()
    before = x.clone()
    b(x, mask=mask)
    expect_equal(x, before, what="x after TransformerBlock",
                 hint="x = x + branch(...) builds a new tensor; x += branch(...) writes into the caller's x")


@TransformerBlock
def test_block_output_shape_and_dtype(impl):
    b = impl.TransformerBlock(12, 3, 20)
    out = b(torch.randn(2, 5, 12))
    expect_shape(out, (2, 5, 12), "TransformerBlock(12, 3, 20)(x of shape (2, 5, 12))",
                 "both sublayers are residual: the output has the shape of the input")
    expect_dtype(out, torch.float32, "output for float32 input")


@TransformerBlock
def test_block_matches_transformer_encoder_layer(impl):
    _check_block_against_torch(impl)


@TransformerBlock
def test_block_matches_transformer_encoder_layer_with_a_causal_mask(impl):
    _check_block_against_torch(impl, torch.ones(5, 5).tril().bool())


@TransformerBlock
def test_block_matches_transformer_encoder_layer_with_a_per_head_mask(impl):
    _check_block_against_torch(impl, _random_mask(2, 3, 5, 5, seed=82, p=0.5))


@TransformerBlock
def test_block_matches_transformer_encoder_layer_with_a_padding_mask(impl):
    keys = torch.tensor([[True, True, True, False, False], [True, True, True, True, True]])
    _check_block_against_torch(impl, keys[:, None, None, :])  # (B, 1, 1, T)


@TransformerBlock
@pytest.mark.parametrize("B,T,transposed", [(1, 1, False), (2, 1, False), (2, 5, True)],
                         ids=["one-of-each", "one-token", "non-contiguous"])
def test_block_takes_any_batch_and_layout(impl, B, T, transposed):
    _check_block_against_torch(impl, torch.ones(T, T).tril().bool(), B=B, T=T, transposed=transposed)


@TransformerBlock
def test_block_is_causal_with_a_causal_mask(impl):
    b = impl.TransformerBlock(12, 3, 20)
    _fill_block(b, 12, 20, seed=83)
    mask = impl.causal_mask(6)
    x = _randn(2, 6, 12, seed=84)
    x2 = x.clone()
    x2[:, 4:] = _randn(2, 2, 12, seed=85)
    out, out2 = b(x, mask=mask), b(x2, mask=mask)
    expect_shape(out, (2, 6, 12), "output")
    expect_close(out2[:, :4], out[:, :4], what="outputs of positions 0..3 after changing tokens 4 and 5",
                 rtol=0, atol=1e-12, hint="a later token changed an earlier output: is the mask passed on to attn, "
                                          "and is causal_mask True on and below the diagonal?")


@TransformerBlock
def test_block_is_permutation_equivariant_without_positions(impl):
    b = impl.TransformerBlock(12, 3, 20)
    _fill_block(b, 12, 20, seed=86)
    x = _randn(2, 6, 12, seed=87)
    perm = torch.tensor([5, 2, 0, 4, 1, 3])
    expect_close(b(x[:, perm]), b(x)[:, perm], what="block output for shuffled tokens vs shuffled output", **CLOSE,
                 hint="LayerNorm and the feed-forward act per token and attention treats tokens as a set: "
                      "nothing in the block may depend on token positions")


@TransformerBlock
def test_block_dropout_is_off_in_eval_and_on_in_train(impl):
    b = impl.TransformerBlock(12, 3, 20, dropout=0.5)
    params = _fill_block(b, 12, 20, seed=88)
    x = _randn(2, 5, 12, seed=89)
    ref = _torch_layer(b, params, 12, 3, 20, dropout=0.5).eval()
    b.eval()
    expect_close(b(x), ref(x), what="output in eval mode with dropout=0.5", **CLOSE,
                 hint="use nn.Dropout (or F.dropout with training=self.training): it is the identity in eval mode")
    b.train()
    out1, out2 = b(x), b(x)
    expect(not torch.allclose(out1, out2), "two train-mode calls with dropout=0.5 gave the same output",
           "apply dropout to each branch before the residual add: x + dropout(attn(norm1(x)))")


@TransformerBlock
def test_block_dropout_acts_on_each_branch_output(impl):
    p = 0.5
    b = impl.TransformerBlock(12, 3, 20, dropout=p)
    _fill_block(b, 12, 20, seed=95)
    with torch.no_grad():  # make each branch a constant: attn(...) == 1.0, ff(...) == 3.0 everywhere
        b.attn.out_proj.weight.zero_()
        b.attn.out_proj.bias.fill_(1.0)
        b.ff[2].weight.zero_()
        b.ff[2].bias.fill_(3.0)
    b.train()
    x = _randn(2, 5, 12, seed=96)
    out = b(x)
    expect_shape(out, (2, 5, 12), "output")
    added = (out.detach() - x).flatten()
    # x + dropout(1.0) + dropout(3.0): each branch is either dropped (0) or kept and scaled by 1 / (1 - p)
    allowed = torch.tensor([0.0, 1.0, 3.0, 4.0], dtype=F64) / (1 - p)
    off = (added[:, None] - allowed).abs().min(dim=1).values
    stray = sorted({round(v, 4) for v in added[off >= 1e-9].tolist()})[:4]
    expect(
        bool((off < 1e-9).all()),
        f"with dropout={p} in train mode and branches that output constant 1.0 (attn) and 3.0 (ff), out - x should "
        f"take only the values {allowed.tolist()}; got e.g. {stray}",
        "dropout goes on each branch's output, before its residual add: x = x + dropout(attn(norm1(x))), then "
        "x = x + dropout(ff(norm2(x))); not on the residual sum, not on the branch input, and scaled by 1 / (1 - p) "
        "(nn.Dropout does all this)",
    )


@TransformerBlock
def test_block_gradients_match_transformer_encoder_layer(impl):
    b = impl.TransformerBlock(12, 3, 20)
    params = _fill_block(b, 12, 20, seed=90)
    x = _randn(2, 5, 12, seed=91).requires_grad_()
    grad_out = _randn(2, 5, 12, seed=92)
    (b(x) * grad_out).sum().backward()
    x_ref = x.detach().clone().requires_grad_()
    ref = _torch_layer(b, params, 12, 3, 20)
    (ref(x_ref) * grad_out).sum().backward()
    expect_close(x.grad, x_ref.grad, what="gradient of the input x", **CLOSE,
                 hint="the residual path carries the gradient straight through: x + branch(x)")
    expect_close(b.ff[0].weight.grad, ref.linear1.weight.grad, what="gradient of ff[0].weight", **CLOSE)


@TransformerBlock
@pytest.mark.cuda
def test_block_on_cuda_with_a_causal_mask(impl):
    b = impl.TransformerBlock(12, 3, 20)
    _fill_block(b, 12, 20, seed=93)
    x = _randn(2, 5, 12, seed=94)
    expected = b(x, mask=torch.ones(5, 5).tril().bool())
    b.float().cuda()
    got = b(x.float().cuda(), mask=impl.causal_mask(5, device="cuda"))
    expect_device(got, "cuda", "output", "compute where the module and the input live")
    expect_close(got.cpu(), expected.float(), what="block output on CUDA vs CPU", rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- demo


@demo
def test_demo_quick_run_reports_the_attention_facts(impl):
    from demos.attention import main

    result = main(impl.module, quick=True)
    expect(isinstance(result, dict), f"demos.attention.main should return a dict, got {type(result).__name__}")
    expected_keys = {"causal_future_weight", "row_sum_error", "masked_row_max_abs", "masked_row_has_nan",
                     "permutation_error", "permutation_error_with_positions", "causal_leak", "noncausal_leak"}
    missing = expected_keys - result.keys()
    if missing:
        fail(f"the demo's result lacks {sorted(missing)}")
    expect(result["causal_future_weight"] == 0.0,
           f"a causal block put weight {result['causal_future_weight']:.3g} on future tokens",
           "causal_mask must be True on and below the diagonal, and masked weights exactly 0")
    expect(result["row_sum_error"] < 1e-5, f"attention rows sum to 1 +- {result['row_sum_error']:.3g}",
           "softmax over the keys")
    expect(not result["masked_row_has_nan"] and result["masked_row_max_abs"] == 0.0,
           f"a fully masked row gave NaN={result['masked_row_has_nan']} and max |value| "
           f"{result['masked_row_max_abs']:.3g}", "fully masked rows: zero weights and zero output")
    expect(result["permutation_error"] < 1e-4,
           f"shuffling the tokens changed the block's outputs by {result['permutation_error']:.3g}",
           "without positions, attention is permutation equivariant")
    expect(result["permutation_error_with_positions"] > 1e-3,
           "adding positional encodings should break permutation equivariance",
           "sinusoidal_positional_encoding must differ from position to position")
    expect(result["causal_leak"] < 1e-5, f"a later token changed an earlier output by {result['causal_leak']:.3g}",
           "pass causal_mask to the block")
    expect(result["noncausal_leak"] > 1e-3, "without a mask, a later token should change earlier outputs")
