"""Pitfall: tied weights counted once per name, by walking state_dict() (tensors.module_nbytes)."""

from __future__ import annotations

from solutions.tensors import *  # noqa: F403


def module_nbytes(module, *, include_buffers=True):
    buffers = {id(b) for b in module.buffers()}
    return sum(
        t.numel() * t.element_size()
        for t in module.state_dict(keep_vars=True).values()
        if include_buffers or id(t) not in buffers
    )
