"""Pitfall: the adapter assigned with param.data = value (lora.lora_state_dict).

A float32 adapter turns a float64 model's factors float32 (and shares storage with the dict).
"""

from __future__ import annotations

from solutions import lora as reference
from solutions.lora import *  # noqa: F403


def load_lora_state_dict(model, state_dict):
    expected = reference.lora_state_dict(model).keys()
    missing = sorted(expected - state_dict.keys())
    unexpected = sorted(state_dict.keys() - expected)
    if missing or unexpected:
        raise KeyError(f"adapter does not fit the model: missing keys {missing}, unexpected keys {unexpected}")
    params = dict(model.named_parameters())
    for key, value in state_dict.items():
        if params[key].shape != value.shape:
            raise RuntimeError(f"{key}: shape {tuple(value.shape)} does not fit {tuple(params[key].shape)}")
        params[key].data = value
