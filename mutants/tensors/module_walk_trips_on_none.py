"""Pitfall: module_nbytes walks _parameters and _buffers, tripping on None entries (tensors.module_nbytes).

nn.Linear(..., bias=False) registers its bias as None, BatchNorm without running stats its buffers.
"""

from __future__ import annotations

from solutions import tensors as reference
from solutions.tensors import *  # noqa: F403


def module_nbytes(module, *, include_buffers=True):
    seen, total = set(), 0
    for m in module.modules():
        tensors = list(m._parameters.values()) + (list(m._buffers.values()) if include_buffers else [])
        for t in tensors:
            if id(t) not in seen:
                seen.add(id(t))
                total += reference.tensor_nbytes(t)
    return total
