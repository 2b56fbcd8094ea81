"""Pitfall: the positional encoding comes back as float64, not float32 (attention.sinusoidal_positional_encoding)."""

from __future__ import annotations

import torch

from solutions import attention as reference
from solutions.attention import *  # noqa: F403


def sinusoidal_positional_encoding(seq_len, d_model):
    return reference.sinusoidal_positional_encoding(seq_len, d_model).to(torch.float64)
