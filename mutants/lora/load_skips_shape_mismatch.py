"""Pitfall: factors whose shape does not fit the model are silently skipped (lora.load_lora_state_dict)."""

from __future__ import annotations

import torch

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


def load_lora_state_dict(model, state_dict):
    expected = reference.lora_state_dict(model).keys()
    missing = sorted(expected - state_dict.keys())
    unexpected = sorted(state_dict.keys() - expected)
    if missing or unexpected:
        raise KeyError(f"adapter does not fit the model: missing keys {missing}, unexpected keys {unexpected}")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for key, value in state_dict.items():
            if params[key].shape == value.shape:
                params[key].copy_(value)
