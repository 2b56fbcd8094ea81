"""Pitfall: sampling from the first position's logits instead of the last (language_model.generate).

The next token sampled from the logits of the first position instead of the last."""

from __future__ import annotations

import torch

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def generate(model, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
    if temperature < 0:
        raise ValueError(f"temperature={temperature} < 0")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k={top_k} < 1")

    flags = reference._training_flags(model)
    model.eval()
    try:
        with torch.no_grad():
            for _ in range(max_new_tokens):
                context = idx[:, -model.block_size :]
                logits = model(context)[:, 0, :]
                if temperature == 0:
                    next_id = logits.argmax(dim=-1, keepdim=True)
                else:
                    next_id = _sample(logits / temperature, top_k, generator)
                idx = torch.cat([idx, next_id], dim=1)
    finally:
        reference._restore_training_flags(flags)
    return idx


def _sample(logits, top_k, generator):
    if top_k is not None:
        k = min(top_k, logits.shape[-1])
        kth = torch.topk(logits, k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)
