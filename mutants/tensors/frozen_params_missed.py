"""Pitfall: module_nbytes counts only parameters that require grad, so frozen weights vanish (tensors.module_nbytes)."""

from __future__ import annotations

from solutions.tensors import *  # noqa: F403


def module_nbytes(module, *, include_buffers=True):
    n_bytes = sum(p.numel() * p.element_size() for p in module.parameters() if p.requires_grad)
    if include_buffers:
        n_bytes += sum(b.numel() * b.element_size() for b in module.buffers())
    return n_bytes
