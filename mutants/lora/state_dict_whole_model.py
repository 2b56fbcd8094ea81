"""Pitfall: the adapter's state dict holds the whole model, frozen base included (lora.lora_state_dict)."""

from __future__ import annotations

from solutions.lora import *  # noqa: F403


def lora_state_dict(model):
    return dict(model.state_dict())


def load_lora_state_dict(model, state_dict):
    expected = model.state_dict().keys()
    missing = sorted(k for k in expected - state_dict.keys() if "lora_" in k)
    unexpected = sorted(state_dict.keys() - expected)
    if missing or unexpected:
        raise KeyError(f"missing keys {missing}, unexpected keys {unexpected}")
    model.load_state_dict(state_dict, strict=False)
