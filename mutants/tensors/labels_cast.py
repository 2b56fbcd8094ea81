"""Pitfall: dtype= casts every tensor, so int64 labels and bool masks become float16 (tensors.move_to)."""

from __future__ import annotations

import torch

from solutions.tensors import *  # noqa: F403


def move_to(obj, device, *, dtype=None, non_blocking=False):
    if isinstance(obj, torch.Tensor):
        return obj.to(device=device, dtype=dtype or obj.dtype, non_blocking=non_blocking)
    if isinstance(obj, dict):
        return type(obj)((k, move_to(v, device, dtype=dtype, non_blocking=non_blocking)) for k, v in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(move_to(x, device, dtype=dtype, non_blocking=non_blocking) for x in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(move_to(x, device, dtype=dtype, non_blocking=non_blocking) for x in obj)
    return obj
