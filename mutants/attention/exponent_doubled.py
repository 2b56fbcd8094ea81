"""Pitfall: the exponent uses 2 * (2i) / d_model, twice too large (attention.sinusoidal_positional_encoding)."""

from __future__ import annotations

import torch

from solutions.attention import *  # noqa: F403


def sinusoidal_positional_encoding(seq_len, d_model):
    if d_model % 2:
        raise ValueError(f"d_model={d_model} must be even")
    two_i = torch.arange(0, d_model, 2)
    angle = torch.arange(seq_len).unsqueeze(1) / 10000 ** (2 * two_i / d_model)
    pe = torch.zeros(seq_len, d_model)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe
