"""Pitfall: predict switches to eval mode but leaves autograd on: the result carries a graph (inference.predict)."""

from __future__ import annotations

from solutions import inference as reference
from solutions.inference import *  # noqa: F403


def predict(model, x):
    flags = reference._training_flags(model)
    model.eval()
    try:
        return model(x)
    finally:
        reference._restore_training_flags(flags)
