"""Pitfall: dtype= applied only to float32 and float64, so float16/bfloat16 keep their dtype (tensors.move_to)."""

from __future__ import annotations

import torch

from solutions.tensors import *  # noqa: F403


def move_to(obj, device, *, dtype=None, non_blocking=False):
    def again(o):
        return move_to(o, device, dtype=dtype, non_blocking=non_blocking)

    if isinstance(obj, torch.Tensor):
        if dtype is not None and obj.dtype in (torch.float32, torch.float64):
            return obj.to(device, dtype=dtype, non_blocking=non_blocking)
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, dict):
        return type(obj)((k, again(v)) for k, v in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(again(v) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(again(v) for v in obj)
    return obj
