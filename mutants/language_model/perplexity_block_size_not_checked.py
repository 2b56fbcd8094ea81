"""Pitfall: a block_size above the model's accepted (language_model.perplexity)."""

from __future__ import annotations

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def perplexity(model, data, block_size, batch_size=32):
    if data.shape[0] < 2:
        raise ValueError(f"len(data)={data.shape[0]} < 2")
    saved = model.block_size
    try:
        model.block_size = max(saved, block_size)
        return reference.perplexity(model, data, block_size, batch_size)
    finally:
        model.block_size = saved
