"""Pitfall: windows cut with as_strided, misreading a non-contiguous view (language_model.next_token_batch).

Windows cut with as_strided(stride 1), which misreads a non-contiguous data view."""

from __future__ import annotations

import torch

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def next_token_batch(data, block_size, batch_size, generator=None):
    n = data.shape[0]
    if n <= block_size:
        raise ValueError(f"data has N={n} tokens, need more than block_size={block_size}")
    starts = torch.randint(n - block_size, (batch_size,), generator=generator).to(data.device)
    windows = data.as_strided((n - block_size, block_size + 1), (1, 1))[starts]
    return windows[:, :-1], windows[:, 1:]
