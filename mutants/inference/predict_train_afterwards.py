"""Pitfall: predict calls model.train() afterwards, flipping modules that were in eval (inference.predict)."""

from __future__ import annotations

import torch

from solutions.inference import *  # noqa: F403


def predict(model, x):
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train()
    return out
