"""Pitfall: one start drawn per batch and the rows taken at consecutive starts (language_model.next_token_batch)."""

from __future__ import annotations

import torch

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def next_token_batch(data, block_size, batch_size, generator=None):
    n = data.shape[0]
    if n <= block_size:
        raise ValueError(f"data has N={n} tokens, need more than block_size={block_size}")
    first = torch.randint(n - block_size, (1,), generator=generator)
    starts = (first + torch.arange(batch_size)) % (n - block_size)
    window = (starts[:, None] + torch.arange(block_size + 1)).to(data.device)
    return data[window][:, :-1], data[window][:, 1:]
