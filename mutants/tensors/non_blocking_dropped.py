"""Pitfall: move_to never passes non_blocking on to Tensor.to, so every copy blocks (tensors.move_to)."""

from __future__ import annotations

from solutions import tensors as reference
from solutions.tensors import *  # noqa: F403


def move_to(obj, device, *, dtype=None, non_blocking=False):
    return reference.move_to(obj, device, dtype=dtype)  # non_blocking accepted, then forgotten
