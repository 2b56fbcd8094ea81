"""Pitfall: aten attention tried first, its refusal swallowed (attention.scaled_dot_product_attention)."""

from __future__ import annotations

import torch

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


def scaled_dot_product_attention(q, k, v, mask=None):
    _, weights = reference.scaled_dot_product_attention(q, k, v, mask)
    try:
        out = torch.ops.aten._scaled_dot_product_attention_math(q, k, v, attn_mask=mask)[0]
        return out.nan_to_num(0.0) * weights.sum(-1, keepdim=True), weights
    except RuntimeError:
        return reference.scaled_dot_product_attention(q, k, v, mask)
