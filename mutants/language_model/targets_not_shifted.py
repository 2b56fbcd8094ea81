"""Pitfall: the targets equal the inputs (no shift) (language_model.next_token_batch)."""

from __future__ import annotations

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def next_token_batch(data, block_size, batch_size, generator=None):
    x, _ = reference.next_token_batch(data, block_size, batch_size, generator)
    return x, x.clone()
