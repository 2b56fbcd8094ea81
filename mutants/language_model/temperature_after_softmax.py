"""Pitfall: the temperature applied to the probabilities after the softmax (language_model.generate).

The probabilities divided by the temperature after the softmax, which sampling renormalises away."""

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
                logits = model(context)[:, -1, :]
                if temperature == 0:
                    next_id = logits.argmax(dim=-1, keepdim=True)
                else:
                    if top_k is not None:
                        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
                        logits = logits.masked_fill(logits < kth, float("-inf"))
                    probs = torch.softmax(logits, dim=-1) / temperature
                    next_id = torch.multinomial(probs, 1, generator=generator)
                idx = torch.cat([idx, next_id], dim=1)
    finally:
        reference._restore_training_flags(flags)
    return idx
