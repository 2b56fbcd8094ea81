"""Pitfall: top_k=0 (or below) silently treated as no top-k (language_model.generate)."""

from __future__ import annotations

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    if top_k is not None and top_k < 1:
        top_k = None
    return reference.generate(model, idx, max_new_tokens, temperature, top_k, generator)
