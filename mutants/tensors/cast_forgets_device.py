"""Pitfall: with dtype= the floats are only cast, t.to(dtype), and stay on their old device (tensors.move_to)."""

from __future__ import annotations

import torch

from solutions.tensors import *  # noqa: F403


def move_to(obj, device, *, dtype=None, non_blocking=False):
    def again(o):
        return move_to(o, device, dtype=dtype, non_blocking=non_blocking)

    if isinstance(obj, torch.Tensor):
        if dtype is not None and obj.is_floating_point():
            return obj.to(dtype)
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, dict):
        return type(obj)((k, again(v)) for k, v in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(again(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(again(v) for v in obj)
    return obj
