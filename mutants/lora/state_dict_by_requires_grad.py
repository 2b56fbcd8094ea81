"""Pitfall: the trainable parameters selected instead of the LoRA ones (lora.lora_state_dict).

A head trained beside the adapters slips in.
"""

from __future__ import annotations

from solutions.lora import *  # noqa: F403


def lora_state_dict(model):
    return {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
