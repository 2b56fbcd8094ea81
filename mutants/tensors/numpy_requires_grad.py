"""Pitfall: t.cpu().numpy() without detach(), which fails on a tensor that requires grad (tensors.to_numpy)."""

from __future__ import annotations

import torch

from solutions.tensors import *  # noqa: F403


def to_numpy(t):
    t = t.cpu()
    if t.dtype == torch.bfloat16:
        t = t.float()
    return t.numpy()
