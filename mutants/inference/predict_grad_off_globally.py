"""Pitfall: autograd switched off with torch.set_grad_enabled(False), never back on (inference.predict).

The caller's training code silently stops recording.
"""

from __future__ import annotations

import torch

from solutions import inference as reference
from solutions.inference import *  # noqa: F403


def predict(model, x):
    torch.set_grad_enabled(False)
    flags = reference._training_flags(model)
    model.eval()
    try:
        return model(x)
    finally:
        reference._restore_training_flags(flags)
