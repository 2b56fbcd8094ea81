"""Pitfall: one stage too many unfrozen (finetuning.unfreeze_last_blocks)."""

from __future__ import annotations

from solutions.finetuning import *  # noqa: F403
from solutions.finetuning import freeze, unfreeze


def unfreeze_last_blocks(model, n):
    if not 0 <= n <= 4:
        raise ValueError(f"n={n} must be in 0..4")
    freeze(model)
    unfreeze(model.fc)
    for stage in [model.layer4, model.layer3, model.layer2, model.layer1][: n + 1]:
        unfreeze(stage)
    return model
