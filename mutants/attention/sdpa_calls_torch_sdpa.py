"""Pitfall: the output comes from F.scaled_dot_product_attention (attention.scaled_dot_product_attention).

The weights are computed by hand (the function must return them), the output is torch's, with the
fully masked rows zeroed afterwards: every value is right, and nothing was written by hand.
"""

from __future__ import annotations

import torch.nn.functional as F

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


def scaled_dot_product_attention(q, k, v, mask=None):
    _, weights = reference.scaled_dot_product_attention(q, k, v, mask)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out.nan_to_num(0.0) * weights.sum(-1, keepdim=True), weights
