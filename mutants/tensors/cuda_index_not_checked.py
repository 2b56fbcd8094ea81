"""Pitfall: pick_device checks that CUDA exists but not that the requested GPU index does (tensors.pick_device)."""

from __future__ import annotations

import torch

from solutions.tensors import *  # noqa: F403


def pick_device(preferred=None):
    if preferred is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(preferred)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {preferred!r} is not available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {preferred!r} is not available")
    return device
