"""Pitfall: perplexity measured in training mode: dropout on (language_model.perplexity)."""

from __future__ import annotations

from torch import nn

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def perplexity(model, data, block_size, batch_size=32):
    flags = reference._training_flags(model)
    model.train()
    try:
        return reference.perplexity(_Stay(model), data, block_size, batch_size)
    finally:
        reference._restore_training_flags(flags)


class _Stay(nn.Module):
    """Runs the model in whatever mode it is in: eval() on the wrapper does not reach it."""

    def __init__(self, model):
        super().__init__()
        object.__setattr__(self, "inner", model)
        self.block_size = model.block_size

    def forward(self, idx):
        return self.inner(idx)
