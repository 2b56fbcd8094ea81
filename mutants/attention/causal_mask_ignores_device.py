"""Pitfall: the device argument is ignored, the mask is always built on the CPU (attention.causal_mask)."""

from __future__ import annotations

import torch

from solutions.attention import *  # noqa: F403


def causal_mask(seq_len, device=None):
    return torch.ones(seq_len, seq_len, dtype=torch.bool).tril()
