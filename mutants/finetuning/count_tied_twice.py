"""Pitfall: a tied weight counted once per name (finetuning.count_parameters)."""

from __future__ import annotations

from solutions.finetuning import *  # noqa: F403


def count_parameters(module, trainable_only=False):
    params = (p for _, p in module.named_parameters(remove_duplicate=False))
    return sum(p.numel() for p in params if p.requires_grad or not trainable_only)
