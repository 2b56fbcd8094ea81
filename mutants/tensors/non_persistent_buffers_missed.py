"""Pitfall: module_nbytes walks state_dict(), which leaves out non-persistent buffers (tensors.module_nbytes)."""

from __future__ import annotations

from solutions.tensors import *  # noqa: F403


def module_nbytes(module, *, include_buffers=True):
    param_ids = {id(p) for p in module.parameters()}
    unique = {}
    for t in module.state_dict(keep_vars=True).values():
        if include_buffers or id(t) in param_ids:
            unique[id(t)] = t  # tied weights appear under two names but once here
    return sum(t.numel() * t.element_size() for t in unique.values())
