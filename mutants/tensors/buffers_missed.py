"""Pitfall: buffers (BatchNorm running statistics) are left out of module_nbytes (tensors.module_nbytes)."""

from __future__ import annotations

from solutions.tensors import *  # noqa: F403


def module_nbytes(module, *, include_buffers=True):
    return sum(p.numel() * p.element_size() for p in module.parameters())
