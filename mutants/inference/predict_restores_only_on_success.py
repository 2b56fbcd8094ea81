"""Pitfall: predict puts the training flags back only when the forward pass succeeds (inference.predict).

A model that raises leaves every submodule in eval mode: the restore is not in a `finally:` block.
"""

from __future__ import annotations

import torch

from solutions import inference as reference
from solutions.inference import *  # noqa: F403


def predict(model, x):
    flags = reference._training_flags(model)
    model.eval()
    with torch.no_grad():
        out = model(x)
    reference._restore_training_flags(flags)
    return out
