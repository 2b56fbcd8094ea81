"""Pitfall: to_numpy returns .numpy() itself, a view of a CPU tensor's memory, not a copy (tensors.to_numpy)."""

from __future__ import annotations

import torch

from solutions.tensors import *  # noqa: F403


def to_numpy(t):
    t = t.detach().cpu()  # no-ops on a CPU tensor: the array below is the tensor's own memory
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy()
