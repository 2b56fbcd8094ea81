"""Pitfall: MPS is preferred over CUDA when both are available (tensors.pick_device)."""

from __future__ import annotations

import torch

from solutions import tensors as reference
from solutions.tensors import *  # noqa: F403


def pick_device(preferred=None):
    if preferred is None and torch.backends.mps.is_available():
        return torch.device("mps")
    return reference.pick_device(preferred)
