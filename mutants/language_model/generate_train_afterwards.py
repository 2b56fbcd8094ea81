"""Pitfall: model.train() afterwards, flipping modules that were in eval (language_model.generate)."""

from __future__ import annotations

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    out = reference.generate(model, idx, max_new_tokens, temperature, top_k, generator)
    model.train()
    return out
