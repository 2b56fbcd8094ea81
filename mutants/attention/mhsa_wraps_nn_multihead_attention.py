"""Pitfall: it wraps F.multi_head_attention_forward (attention.MultiHeadSelfAttention).

nn.MultiheadAttention's own code does the splitting, scaling and merging; every value and gradient
is right.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


class MultiHeadSelfAttention(reference.MultiHeadSelfAttention):
    def forward(self, x, mask=None):
        B, T, D = x.shape
        attn_mask = None
        if mask is not None:
            full = mask.expand(B, self.n_heads, T, T).reshape(B * self.n_heads, T, T)
            attn_mask = ~full  # nn.MultiheadAttention's convention: True = may NOT attend
        has_bias = self.q_proj.bias is not None
        in_bias = torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]) if has_bias else None
        out, _ = F.multi_head_attention_forward(
            x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), D, self.n_heads,
            torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight]), in_bias,
            None, None, False, 0.0, self.out_proj.weight, self.out_proj.bias,
            training=self.training, need_weights=False, attn_mask=attn_mask,
        )
        return out.transpose(0, 1)


class TransformerBlock(reference.TransformerBlock):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0):
        super().__init__(d_model, n_heads, d_ff, dropout)
        self.attn = MultiHeadSelfAttention(d_model, n_heads)
