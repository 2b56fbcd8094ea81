"""Pitfall: heads merged with a bare reshape(B, T, d_model), no transpose back (attention.MultiHeadSelfAttention)."""

from __future__ import annotations

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


class MultiHeadSelfAttention(reference.MultiHeadSelfAttention):
    def forward(self, x, mask=None):
        B, T, _ = x.shape
        q, k, v = (self._split_heads(p(x)) for p in (self.q_proj, self.k_proj, self.v_proj))
        out, _ = reference.scaled_dot_product_attention(q, k, v, mask)
        return self.out_proj(out.reshape(B, T, self.d_model))
