"""Pitfall: N <= block_size not rejected with a ValueError (language_model.next_token_batch).

N <= block_size not rejected: randint(0) or a negative bound fails with a RuntimeError."""

from __future__ import annotations

import torch

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def next_token_batch(data, block_size, batch_size, generator=None):
    n = data.shape[0]
    starts = torch.randint(max(n - block_size, 1), (batch_size,), generator=generator)
    window = (starts[:, None] + torch.arange(block_size + 1)).clamp(max=n - 1).to(data.device)
    return data[window][:, :-1], data[window][:, 1:]
