"""Pitfall: generator=None means a fresh generator seeded 0 (language_model.next_token_batch).

Generator=None replaced by a fresh generator seeded 0, so the global seed changes nothing."""

from __future__ import annotations

import torch

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def next_token_batch(data, block_size, batch_size, generator=None):
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    return reference.next_token_batch(data, block_size, batch_size, generator)
