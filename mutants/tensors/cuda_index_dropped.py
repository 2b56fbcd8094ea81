"""Pitfall: pick_device checks 'cuda:1' and returns torch.device('cuda'), which means GPU 0 (tensors.pick_device)."""

from __future__ import annotations

import torch

from solutions import tensors as reference
from solutions.tensors import *  # noqa: F403


def pick_device(preferred=None):
    device = reference.pick_device(preferred)
    return torch.device(device.type)
