"""Pitfall: tuples are rebuilt as lists, so an (images, labels) pair comes back as a list (tensors.move_to)."""

from __future__ import annotations

import torch

from solutions.tensors import *  # noqa: F403


def move_to(obj, device, *, dtype=None, non_blocking=False):
    if isinstance(obj, torch.Tensor):
        if dtype is not None and obj.is_floating_point():
            return obj.to(device=device, dtype=dtype, non_blocking=non_blocking)
        return obj.to(device=device, non_blocking=non_blocking)
    if isinstance(obj, dict):
        return type(obj)((k, move_to(v, device, dtype=dtype, non_blocking=non_blocking)) for k, v in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(move_to(x, device, dtype=dtype, non_blocking=non_blocking) for x in obj))
    if isinstance(obj, (list, tuple)):
        return [move_to(x, device, dtype=dtype, non_blocking=non_blocking) for x in obj]
    return obj
