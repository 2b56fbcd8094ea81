"""Pitfall: only the tensors directly in the container are moved; nested ones stay behind (tensors.move_to)."""

from __future__ import annotations

import torch

from solutions.tensors import *  # noqa: F403


def _move(x, device, dtype, non_blocking):
    if not isinstance(x, torch.Tensor):
        return x
    if dtype is not None and x.is_floating_point():
        return x.to(device=device, dtype=dtype, non_blocking=non_blocking)
    return x.to(device=device, non_blocking=non_blocking)


def move_to(obj, device, *, dtype=None, non_blocking=False):
    if isinstance(obj, dict):
        return type(obj)((k, _move(v, device, dtype, non_blocking)) for k, v in obj.items())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_move(x, device, dtype, non_blocking) for x in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_move(x, device, dtype, non_blocking) for x in obj)
    return _move(obj, device, dtype, non_blocking)
