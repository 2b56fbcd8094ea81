"""Pitfall: every half-precision tensor is upcast to float32, float16 included (tensors.to_numpy)."""

from __future__ import annotations

import torch

from solutions.tensors import *  # noqa: F403


def to_numpy(t):
    t = t.detach().cpu()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.float()
    return t.numpy()
