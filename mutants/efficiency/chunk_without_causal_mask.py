"""Pitfall: the prompt read in one chunk without a causal mask (efficiency.cached_attention_step).

Single tokens come out right (a lone new token may see everything cached), but a chunk's positions see the future.
"""

from __future__ import annotations

import math

import torch.nn.functional as F

from solutions import efficiency as reference
from solutions.efficiency import *  # noqa: F403


def cached_attention_step(attn, x_new, cache):
    b, t_new, d = x_new.shape
    h = attn.num_heads
    dh = d // h
    qkv = F.linear(x_new, attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = (z.reshape(b, t_new, h, dh).transpose(1, 2) for z in qkv.split(d, dim=-1))
    keys, values = cache.append(k, v)
    out = (q @ keys.transpose(-2, -1) / math.sqrt(dh)).softmax(dim=-1) @ values
    return attn.out_proj(out.transpose(1, 2).reshape(b, t_new, d))


reference.cached_attention_step = cached_attention_step  # generate_cached reads the prompt through it too
