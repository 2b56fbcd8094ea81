"""Pitfall: MPS is preferred over CUDA when both are available (tensors.pick_device)."""

from __future__ import annotations

import torch

from solutions.tensors import *  # noqa: F403
from solutions.tensors import pick_device as _pick_device


def pick_device(preferred=None):
    if preferred is None and torch.backends.mps.is_available():
        return torch.device("mps")
    return _pick_device(preferred)
