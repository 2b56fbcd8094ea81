"""attention, a correct alternative: einsum and torch.where by hand, F.scaled_dot_product_attention inside the
multi-head module (the contract allows it there), unflatten/flatten for the heads, interleaved sin/cos.

Red-team style for the test suite: written from the contract alone, in a style unlike solutions/.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def scaled_dot_product_attention(q, k, v, mask=None):
    """(softmax(q k^T / sqrt(d)) v, weights), masked keys hidden, fully masked queries all zero."""
    scores = torch.einsum("...qd,...kd->...qk", q, k) * (q.shape[-1] ** -0.5)
    if mask is None:
        weights = scores.softmax(dim=-1)
    else:
        very_negative = torch.finfo(scores.dtype).min
        weights = torch.where(mask, scores, very_negative).softmax(dim=-1)
        weights = torch.where(mask, weights, 0.0)
    return torch.einsum("...qk,...kv->...qv", weights, v), weights


def causal_mask(seq_len: int, device=None) -> torch.Tensor:
    """query i may attend to keys j <= i."""
    idx = torch.arange(seq_len, device=device)
    return idx[:, None] >= idx[None, :]


def sinusoidal_positional_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """sin on even columns, cos on odd ones, frequencies 10000^(-2i/d_model); float32."""
    if d_model % 2:
        raise ValueError(f"d_model must be even, got {d_model}")
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    angle = torch.outer(torch.arange(seq_len, dtype=torch.float64), freq)
    return torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(-2).to(torch.float32)


class MultiHeadSelfAttention(nn.Module):
    """Four projections; heads attended with F.scaled_dot_product_attention."""

    def __init__(self, d_model: int, n_heads: int, bias: bool = True):
        super().__init__()
        if n_heads < 1 or d_model % n_heads:
            raise ValueError(f"n_heads={n_heads} does not divide d_model={d_model}")
        self.n_heads = n_heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (
            nn.Linear(d_model, d_model, bias=bias) for _ in range(4))

    def forward(self, x, mask=None):
        """(B, T, d_model) -> (B, T, d_model)."""
        batch, tokens, _ = x.shape

        def heads(t):
            return t.unflatten(-1, (self.n_heads, -1)).transpose(1, 2)  # (B, H, T, d_head)

        if mask is not None:  # F.scaled_dot_product_attention wants the mask spelled out
            mask = mask.expand(batch, self.n_heads, tokens, tokens)
        out = F.scaled_dot_product_attention(heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x)),
                                             attn_mask=mask)
        return self.out_proj(out.transpose(1, 2).flatten(2))


class TransformerBlock(nn.Module):
    """Pre-LN block with functional dropout."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.p = dropout
        self.attn = MultiHeadSelfAttention(d_model, n_heads)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x, mask=None):
        """x + drop(attn(norm1(x))), then + drop(ff(norm2(.)))."""
        h = x + F.dropout(self.attn(self.norm1(x), mask), self.p, self.training)
        return h + F.dropout(self.ff(self.norm2(h)), self.p, self.training)
