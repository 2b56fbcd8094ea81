"""Pitfall: module_nbytes counts elements instead of bytes (tensors.module_nbytes)."""

from __future__ import annotations

from solutions.tensors import *  # noqa: F403


def module_nbytes(module, *, include_buffers=True):
    tensors = list(module.parameters()) + (list(module.buffers()) if include_buffers else [])
    return sum(t.numel() for t in tensors)
