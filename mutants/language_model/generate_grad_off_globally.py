"""Pitfall: autograd switched off with torch.set_grad_enabled(False) and never back on (language_model.generate)."""

from __future__ import annotations

import torch

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    torch.set_grad_enabled(False)
    return reference.generate(model, idx, max_new_tokens, temperature, top_k, generator)
