"""Pitfall: the causal mask comes back as 0/1 floats instead of bool (attention.causal_mask)."""

from __future__ import annotations

import torch

from solutions.attention import *  # noqa: F403


def causal_mask(seq_len, device=None):
    return torch.ones(seq_len, seq_len, device=device).tril()
