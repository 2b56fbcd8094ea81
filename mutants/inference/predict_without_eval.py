"""Pitfall: predict runs under torch.no_grad() but never calls model.eval() (inference.predict).

Dropout keeps sampling masks and BatchNorm normalises with (and updates) batch statistics."""

from __future__ import annotations

import torch

from solutions.inference import *  # noqa: F403


def predict(model, x):
    with torch.no_grad():
        return model(x)
