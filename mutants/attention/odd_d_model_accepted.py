"""Pitfall: an odd d_model accepted, the last column a lone sin (attention.sinusoidal_positional_encoding)."""

from __future__ import annotations

import math

import torch

from solutions.attention import *  # noqa: F403


def sinusoidal_positional_encoding(seq_len, d_model):
    position = torch.arange(seq_len).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(seq_len, d_model)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div)[:, : d_model // 2]
    return pe
