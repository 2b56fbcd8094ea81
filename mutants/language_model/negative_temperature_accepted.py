"""Pitfall: a negative temperature accepted (it turns the distribution upside down) (language_model.generate)."""

from __future__ import annotations

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    if temperature < 0:
        return reference.generate(model, idx, max_new_tokens, 1.0, top_k, generator)
    return reference.generate(model, idx, max_new_tokens, temperature, top_k, generator)
