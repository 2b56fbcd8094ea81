"""Pitfall: to_numpy returns .item() (a Python number) for a 0-d tensor instead of an ndarray (tensors.to_numpy)."""

from __future__ import annotations

import torch

from solutions.tensors import *  # noqa: F403


def to_numpy(t):
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    if t.dim() == 0:
        return t.item()
    return t.numpy()
