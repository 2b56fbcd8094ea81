"""attention, a correct alternative: matmul with an out-of-place pre-scaled q, a multiplicative mask, a Python
loop over heads slicing the projection weights, the positional table filled column pair by column pair.

Red-team style for the test suite: written from the contract alone, in a style unlike solutions/.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax((q / sqrt(d)) k^T) v; masked entries filled with the dtype's minimum, then multiplied by the mask."""
    scores = torch.matmul(q / math.sqrt(q.size(-1)), k.mT)
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), torch.finfo(scores.dtype).min)
    weights = F.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights * mask
    return torch.matmul(weights, v), weights


def causal_mask(seq_len: int, device=None) -> torch.Tensor:
    """Lower triangle, diagonal included."""
    return torch.tril(torch.ones((seq_len, seq_len), device=device)).bool()


def sinusoidal_positional_encoding(seq_len: int, d_model: int) -> torch.Tensor:
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(...), float32."""
    if d_model % 2 != 0:
        raise ValueError(f"sinusoidal_positional_encoding: d_model={d_model} is odd")
    pe = torch.zeros(seq_len, d_model, dtype=torch.float64)
    pos = torch.arange(seq_len, dtype=torch.float64)
    for two_i in range(0, d_model, 2):
        angle = pos / (10000.0 ** (two_i / d_model))
        pe[:, two_i] = torch.sin(angle)
        pe[:, two_i + 1] = torch.cos(angle)
    return pe.float()


class MultiHeadSelfAttention(nn.Module):
    """One attention per head, each on its slice of the projection weights; the head outputs concatenated."""

    def __init__(self, d_model: int, n_heads: int, bias: bool = True):
        super().__init__()
        if n_heads <= 0 or d_model % n_heads != 0:
            raise ValueError(f"cannot split d_model={d_model} into n_heads={n_heads} equal heads")
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _head(self, proj: nn.Linear, x: torch.Tensor, h: int) -> torch.Tensor:
        rows = slice(h * self.d_head, (h + 1) * self.d_head)
        return F.linear(x, proj.weight[rows], None if proj.bias is None else proj.bias[rows])

    def forward(self, x, mask=None):
        """(B, T, d_model) -> (B, T, d_model)."""
        batch, tokens, _ = x.shape
        if mask is not None:
            mask = torch.broadcast_to(mask, (batch, self.n_heads, tokens, tokens))
        outs = []
        for h in range(self.n_heads):
            q, k, v = (self._head(p, x, h) for p in (self.q_proj, self.k_proj, self.v_proj))
            out, _ = scaled_dot_product_attention(q, k, v, None if mask is None else mask[:, h])
            outs.append(out)
        return self.out_proj(torch.cat(outs, dim=-1))


class TransformerBlock(nn.Module):
    """Pre-LN: two residual branches, each normalised at its input and dropped out at its output."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, n_heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
        self.drop_attn, self.drop_ff = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x, mask=None):
        """One block."""
        attended = self.drop_attn(self.attn(self.norm1(x), mask))
        x = attended + x
        return x + self.drop_ff(self.ff(self.norm2(x)))
