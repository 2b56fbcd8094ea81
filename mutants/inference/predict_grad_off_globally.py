"""Pitfall: predict switches autograd off with torch.set_grad_enabled(False) and never back on, so
the caller's training code silently stops recording (inference.predict)."""

from __future__ import annotations

import torch

from solutions.inference import *  # noqa: F403
from solutions.inference import _restore_training_flags, _training_flags


def predict(model, x):
    torch.set_grad_enabled(False)
    flags = _training_flags(model)
    model.eval()
    try:
        return model(x)
    finally:
        _restore_training_flags(flags)
