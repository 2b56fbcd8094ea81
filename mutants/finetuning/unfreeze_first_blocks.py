"""Pitfall: the first n stages (layer1, ...) unfrozen instead of the last n (finetuning.unfreeze_last_blocks)."""

from __future__ import annotations

from solutions import finetuning as reference
from solutions.finetuning import *  # noqa: F403


def unfreeze_last_blocks(model, n):
    if not 0 <= n <= 4:
        raise ValueError(f"n={n} must be in 0..4")
    reference.freeze(model)
    reference.unfreeze(model.fc)
    for stage in [model.layer1, model.layer2, model.layer3, model.layer4][:n]:
        reference.unfreeze(stage)
    return model
