"""Pitfall: pick_device accepts the index equal to the device count ('cuda:1' on one GPU) (tensors.pick_device)."""

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
    if device.type == "cuda":
        available = torch.cuda.is_available() and (device.index or 0) <= torch.cuda.device_count()
    elif device.type == "mps":
        available = torch.backends.mps.is_available()
    else:
        available = device.type == "cpu"
    if not available:
        raise ValueError(f"device {preferred!r} is not available on this machine")
    return device
