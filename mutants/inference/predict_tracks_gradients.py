"""Pitfall: predict switches to eval mode but leaves autograd on: the result carries a graph (inference.predict)."""

from __future__ import annotations

from solutions.inference import *  # noqa: F403
from solutions.inference import _restore_training_flags, _training_flags


def predict(model, x):
    flags = _training_flags(model)
    model.eval()
    try:
        return model(x)
    finally:
        _restore_training_flags(flags)
