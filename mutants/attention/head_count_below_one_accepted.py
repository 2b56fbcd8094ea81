"""Pitfall: only d_model % n_heads checked: 0 heads divide by zero, -2 heads pass (attention.MultiHeadSelfAttention)."""

from __future__ import annotations

from torch import nn

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


class MultiHeadSelfAttention(reference.MultiHeadSelfAttention):
    def __init__(self, d_model, n_heads, bias=True):
        nn.Module.__init__(self)
        if d_model % n_heads != 0:  # ZeroDivisionError for n_heads=0; 8 % -2 == 0 lets -2 heads through
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
