"""Pitfall: non-tensor leaves are dropped from the moved batch (tensors.move_to)."""

from __future__ import annotations

import torch

from solutions.tensors import *  # noqa: F403


def _keep(x):
    return isinstance(x, (torch.Tensor, dict, list, tuple))


def move_to(obj, device, *, dtype=None, non_blocking=False):
    if isinstance(obj, torch.Tensor):
        if dtype is not None and obj.is_floating_point():
            return obj.to(device=device, dtype=dtype, non_blocking=non_blocking)
        return obj.to(device=device, non_blocking=non_blocking)
    if isinstance(obj, dict):
        return type(obj)(
            (k, move_to(v, device, dtype=dtype, non_blocking=non_blocking)) for k, v in obj.items() if _keep(v)
        )
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(move_to(x, device, dtype=dtype, non_blocking=non_blocking) for x in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(move_to(x, device, dtype=dtype, non_blocking=non_blocking) for x in obj if _keep(x))
    return obj
