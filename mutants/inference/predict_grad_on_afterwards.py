"""Pitfall: predict switches autograd on afterwards instead of putting back the caller's mode (inference.predict).

Called inside the caller's `with torch.no_grad():`, it leaves autograd on for the rest of that block.
"""

from __future__ import annotations

import torch

from solutions import inference as reference
from solutions.inference import *  # noqa: F403


def predict(model, x):
    flags = reference._training_flags(model)
    model.eval()
    torch.set_grad_enabled(False)
    try:
        return model(x)
    finally:
        torch.set_grad_enabled(True)
        reference._restore_training_flags(flags)
