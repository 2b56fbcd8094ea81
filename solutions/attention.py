"""attention - self-attention and the Transformer block: queries, keys and values, masks, heads, pre-LN.

Masks are boolean with ``True`` meaning "may attend" (the ``F.scaled_dot_product_attention``
convention). Careful: ``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` use the
opposite convention for a boolean ``attn_mask``/``src_mask`` (``True`` = NOT allowed).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of every query over every key: ``softmax(q k^T / sqrt(d)) v``.

    Written by hand, without ``F.scaled_dot_product_attention`` (or any other attention function of
    torch): the tests refuse them while this runs.

    Args:
        q: queries ``(..., Tq, d)``.
        k: keys ``(..., Tk, d)`` (same ``d`` as the queries).
        v: values ``(..., Tk, dv)``.
        mask: optional bool tensor broadcastable to ``(..., Tq, Tk)`` (``(Tk,)``, ``(Tq, 1)``,
            ``(B, 1, 1, Tk)``, an expanded view...); ``True`` = this query may attend to this key,
            ``False`` = it may not.

    ``q``, ``k``, ``v`` and ``mask`` may be non-contiguous views (multi-head attention hands over
    transposed ones) and are left unchanged; float64, float32 and bfloat16 work (float16 is left
    open: a large negative fill such as ``-1e9``, which float16 cannot hold, is accepted).

    Returns:
        ``(output, weights)``: ``output (..., Tq, dv)`` and ``weights (..., Tq, Tk)``, both in the
        dtype of ``q``. Each row of ``weights`` sums to 1 over the keys and is exactly 0 where the
        mask is False. A query whose whole row is masked gets all-zero weights and a zero output,
        never NaN (and no NaN in the gradient either).

    Pitfalls: dividing by ``d`` instead of ``sqrt(d)`` (the softmax flattens as ``d`` grows, while
    no scaling at all saturates it); softmax over the queries axis instead of the keys axis;
    masking after the softmax (the rows no longer sum to 1) or with the mask inverted; ``-inf``
    everywhere in a row gives ``0/0 = NaN``.
    """
    d = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)  # (..., Tq, Tk)
    if mask is not None:
        # a finite "minus infinity": a fully masked row becomes uniform instead of 0/0 = NaN ...
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)  # normalise over the keys
    if mask is not None:
        # ... and is then zeroed, like every masked entry (elsewhere they are already exactly 0)
        weights = weights.masked_fill(~mask, 0.0)
    return weights @ v, weights  # (..., Tq, dv), (..., Tq, Tk)


def causal_mask(seq_len: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The mask of a decoder: position ``i`` may attend to positions ``0..i`` only.

    Args:
        seq_len: the sequence length ``T``.
        device: where to create the mask (default: the CPU).

    Returns:
        a bool tensor ``(T, T)`` on ``device``, True on and below the diagonal.

    Pitfall: the upper triangle (attending to the future) or a strict lower triangle (a token may
    not even see itself, so the first row is fully masked).
    """
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()


def sinusoidal_positional_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """The fixed positional encoding of "Attention Is All You Need".

    ``PE[p, 2i] = sin(p / 10000^(2i/d_model))`` and ``PE[p, 2i+1] = cos(p / 10000^(2i/d_model))``.

    Args:
        seq_len: number of positions ``T``.
        d_model: width of the encoding; must be even (sin and cos come in pairs).

    Returns:
        a float32 tensor ``(seq_len, d_model)``.

    Raises:
        ValueError: ``d_model`` is odd (the message names it).

    Pitfalls: sin and cos swapped; the exponent off by a factor of 2 (``2i`` is the even column
    index itself, so the frequency of column pair ``i`` uses ``2i/d_model``, not ``i/d_model`` nor
    ``4i/d_model``).
    """
    if d_model % 2 != 0:
        raise ValueError(f"d_model must be even for sin/cos pairs, got d_model={d_model}")
    position = torch.arange(seq_len, dtype=torch.float64).unsqueeze(1)  # (T, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (d_model/2,)
    angle = position / 10000 ** (two_i / d_model)  # (T, d_model/2)
    pe = torch.empty(seq_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.float()


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention: ``n_heads`` attentions of width ``d_head = d_model / n_heads``.

    Submodules ``q_proj``, ``k_proj``, ``v_proj`` and ``out_proj``, each
    ``nn.Linear(d_model, d_model, bias=bias)``. Head ``h`` uses features
    ``h*d_head:(h+1)*d_head`` of the projections (the ``nn.MultiheadAttention`` layout).

    ``forward(x (B, T, d_model), mask=None) -> (B, T, d_model)``; ``mask`` is bool (True = may
    attend), ``(T, T)`` or broadcastable to ``(B, n_heads, T, T)`` (so a 3-D mask is
    ``(n_heads, T, T)``, and a 1-D ``(T,)`` mask says which keys every query may attend).
    ``F.scaled_dot_product_attention`` refuses a 1-D mask: hand it a ``(1, T)`` view of one.
    ``x`` may be a non-contiguous view; it is left unchanged.

    Written from its parts: it does not wrap ``nn.MultiheadAttention`` (the tests refuse it while
    this runs); the attention itself may be your ``scaled_dot_product_attention`` or
    ``F.scaled_dot_product_attention``.

    Raises:
        ValueError: ``n_heads`` is below 1 (0 heads, or a negative count; the message names it), or
            ``d_model`` is not divisible by ``n_heads`` (the message names both).

    Pitfalls: scaling by ``sqrt(d_model)`` instead of ``sqrt(d_head)``; splitting the heads with a
    bare ``view(B, n_heads, T, d_head)`` (no transpose: tokens and features get mixed up); merging
    them back in the wrong order.
    """

    def __init__(self, d_model: int, n_heads: int, bias: bool = True):
        super().__init__()
        if n_heads <= 0 or d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        B, T, _ = t.shape
        return t.view(B, T, self.n_heads, self.d_head).transpose(1, 2)  # (B, H, T, d_head)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Self-attention of ``x (B, T, d_model)`` -> ``(B, T, d_model)``; see the class docstring."""
        B, T, _ = x.shape
        q = self._split_heads(self.q_proj(x))  # (B, H, T, d_head)
        k = self._split_heads(self.k_proj(x))
        v = self._split_heads(self.v_proj(x))
        out, _ = scaled_dot_product_attention(q, k, v, mask)  # (B, H, T, d_head), scaled by sqrt(d_head)
        out = out.transpose(1, 2).reshape(B, T, self.d_model)  # (B, T, H * d_head)
        return self.out_proj(out)


class TransformerBlock(nn.Module):
    """A pre-LayerNorm Transformer (encoder) block.

    ``x = x + dropout(attn(norm1(x), mask))`` then ``x = x + dropout(ff(norm2(x)))``, with
    submodules ``attn`` (``MultiHeadSelfAttention(d_model, n_heads)``), ``norm1`` and ``norm2``
    (``nn.LayerNorm(d_model)``) and ``ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(),
    nn.Linear(d_ff, d_model))``. With dropout 0 (or in eval mode) it computes exactly what
    ``nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout, activation="gelu",
    batch_first=True, norm_first=True)`` computes with the same weights.

    ``forward(x (B, T, d_model), mask=None) -> (B, T, d_model)``; ``mask`` as for
    ``MultiHeadSelfAttention`` (True = may attend; ``causal_mask(T)`` makes a decoder block). ``x``
    may be a non-contiguous view and is left unchanged (the residual adds into a new tensor).

    Pitfall: post-LN (``x = norm1(x + attn(x))``, the original 2017 layout) is a different
    function; pre-LN normalises only the input of each branch and keeps the residual path clean.
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.attn = MultiHeadSelfAttention(d_model, n_heads)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """One block on ``x (B, T, d_model)`` -> ``(B, T, d_model)``; see the class docstring."""
        x = x + self.dropout(self.attn(self.norm1(x), mask))
        x = x + self.dropout(self.ff(self.norm2(x)))
        return x


if __name__ == "__main__":  # python -m solutions.attention: the concept at work, with real numbers
    from demos import run

    run("attention")
