"""Pitfall: keys of the frozen base accepted: an adapter overwrites pretrained weights (lora.load_lora_state_dict)."""

from __future__ import annotations

from solutions.lora import *  # noqa: F403


def load_lora_state_dict(model, state_dict):
    result = model.load_state_dict(state_dict, strict=False)
    missing = sorted(k for k in result.missing_keys if "lora_" in k)
    if missing or result.unexpected_keys:
        raise KeyError(f"missing keys {missing}, unexpected keys {sorted(result.unexpected_keys)}")
