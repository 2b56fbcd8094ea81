"""Pitfall: cos on the even columns and sin on the odd ones (attention.sinusoidal_positional_encoding)."""

from __future__ import annotations

import torch

from solutions.attention import *  # noqa: F403


def sinusoidal_positional_encoding(seq_len, d_model):
    if d_model % 2:
        raise ValueError(f"d_model={d_model} must be even")
    angle = torch.arange(seq_len).unsqueeze(1) / 10000 ** (torch.arange(0, d_model, 2) / d_model)
    pe = torch.zeros(seq_len, d_model)
    pe[:, 0::2] = torch.cos(angle)
    pe[:, 1::2] = torch.sin(angle)
    return pe
