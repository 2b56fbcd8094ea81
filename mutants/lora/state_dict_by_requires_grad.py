"""Pitfall: the adapter's state dict selects the trainable parameters instead of the LoRA ones, so a
head trained beside the adapters slips in (lora.lora_state_dict)."""

from __future__ import annotations

from solutions.lora import *  # noqa: F403


def lora_state_dict(model):
    return {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
