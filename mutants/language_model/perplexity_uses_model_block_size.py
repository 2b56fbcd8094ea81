"""Pitfall: the windows cut at model.block_size whatever block_size is asked for (language_model.perplexity)."""

from __future__ import annotations

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def perplexity(model, data, block_size, batch_size=32):
    if block_size > model.block_size:
        raise ValueError(f"block_size={block_size} > {model.block_size}")
    return reference.perplexity(model, data, model.block_size, batch_size)
