"""Pitfall: apply_lora's alpha defaults to its r (scaling 1) instead of 16.0 (lora.apply_lora)."""

from __future__ import annotations

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


def apply_lora(model, target_modules=("q_proj", "v_proj"), r=8, alpha=None, dropout=0.0):
    return reference.apply_lora(model, target_modules, r=r, alpha=r if alpha is None else alpha, dropout=dropout)
