"""Pitfall: loading ignores missing or extra keys and loads whatever matches (lora.load_lora_state_dict)."""

from __future__ import annotations

from solutions.lora import *  # noqa: F403


def load_lora_state_dict(model, state_dict):
    model.load_state_dict(state_dict, strict=False)
