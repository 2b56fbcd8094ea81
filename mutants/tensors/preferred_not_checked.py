"""Pitfall: a preferred device is returned without checking that it exists (tensors.pick_device)."""

from __future__ import annotations

import torch

from solutions.tensors import *  # noqa: F403


def pick_device(preferred=None):
    return torch.device(preferred or "cpu")
