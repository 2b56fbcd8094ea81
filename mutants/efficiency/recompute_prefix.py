"""Pitfall: generation reruns the model on the whole prefix at every token (efficiency.generate_cached).

The right tokens at a quadratic total cost: no cache at all.
"""

from __future__ import annotations

import torch

from solutions.efficiency import *  # noqa: F403


def generate_cached(model, prompt, max_new_tokens):
    if prompt.shape[1] + max_new_tokens > model.block_size:
        raise ValueError(f"prompt {prompt.shape[1]} + {max_new_tokens} exceeds block_size {model.block_size}")
    idx = prompt
    with torch.no_grad():
        for _ in range(max_new_tokens):
            idx = torch.cat([idx, model(idx)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return idx
