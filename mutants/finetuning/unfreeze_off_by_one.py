"""Pitfall: one stage too many unfrozen (finetuning.unfreeze_last_blocks)."""

from __future__ import annotations

from solutions import finetuning as reference
from solutions.finetuning import *  # noqa: F403


def unfreeze_last_blocks(model, n):
    if not 0 <= n <= 4:
        raise ValueError(f"n={n} must be in 0..4")
    reference.freeze(model)
    reference.unfreeze(model.fc)
    for stage in [model.layer4, model.layer3, model.layer2, model.layer1][: n + 1]:
        reference.unfreeze(stage)
    return model
