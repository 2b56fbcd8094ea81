"""Pitfall: predict restores the mode with model.train(was_training) (inference.predict).

That pushes the top-level flag onto every submodule and loses mixed modes.
"""

from __future__ import annotations

import torch

from solutions.inference import *  # noqa: F403


def predict(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train(was_training)
    return out
