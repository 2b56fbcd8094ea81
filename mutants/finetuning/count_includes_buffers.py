"""Pitfall: parameters counted from state_dict(), so BatchNorm buffers count too (finetuning.count_parameters)."""

from __future__ import annotations

from solutions.finetuning import *  # noqa: F403


def count_parameters(module, trainable_only=False):
    return sum(t.numel() for t in module.state_dict().values() if t.requires_grad or not trainable_only)
