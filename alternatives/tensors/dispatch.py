"""tensors, a correct alternative: single dispatch on the node type, Tensor.nbytes, dict of device checks.

Red-team style for the test suite: written from the contract alone, in a style unlike solutions/.
"""

from __future__ import annotations

from functools import singledispatch

import numpy as np
import torch
from torch import nn

_AVAILABLE = {
    "cpu": lambda index: index in (None, 0),
    "cuda": lambda index: torch.cuda.is_available() and (index or 0) < torch.cuda.device_count(),
    "mps": lambda index: torch.backends.mps.is_available() and index in (None, 0),
}


def pick_device(preferred: str | None = None) -> torch.device:
    """Best available device, or the preferred one if it exists here (ValueError naming it otherwise)."""
    if preferred is None:
        for kind in ("cuda", "mps"):
            if _AVAILABLE[kind](None):
                return torch.device(kind)
        return torch.device("cpu")
    device = torch.device(preferred)
    check = _AVAILABLE.get(device.type)
    if check is None or not check(device.index):
        raise ValueError(f"pick_device: {preferred!r} is not available here")
    return device


@singledispatch
def _move(obj, device, dtype, non_blocking):
    return obj  # anything that is not a container or a tensor: the very same object


@_move.register
def _(obj: torch.Tensor, device, dtype, non_blocking):
    cast = dtype if dtype is not None and torch.is_floating_point(obj) else obj.dtype
    return obj.to(device, cast, non_blocking=non_blocking)


@_move.register
def _(obj: dict, device, dtype, non_blocking):
    items = [(key, _move(value, device, dtype, non_blocking)) for key, value in obj.items()]
    try:
        out = type(obj)()  # an OrderedDict, a defaultdict (its factory is restored below)...
    except TypeError:
        out = {}
    if hasattr(obj, "default_factory"):
        out.default_factory = obj.default_factory
    out.update(items)
    return out


@_move.register
def _(obj: list, device, dtype, non_blocking):
    return type(obj)(_move(x, device, dtype, non_blocking) for x in obj)


@_move.register
def _(obj: tuple, device, dtype, non_blocking):
    moved = [_move(x, device, dtype, non_blocking) for x in obj]
    return obj._make(moved) if hasattr(obj, "_make") else type(obj)(moved)


def move_to(obj, device, *, dtype: torch.dtype | None = None, non_blocking: bool = False):
    """Every tensor in nested dicts/lists/tuples/namedtuples moved (floats cast to dtype); containers rebuilt."""
    return _move(obj, device, dtype, non_blocking)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A NumPy array of t's values; bfloat16 comes back as float32."""
    if t.dtype is torch.bfloat16:
        t = t.detach().to(torch.float32)
    return np.array(t.numpy(force=True), copy=True)  # force=True alone still shares a CPU tensor's memory


def tensor_nbytes(t) -> int:
    """numel * element_size, in bytes."""
    return int(t.nbytes)


def module_nbytes(module: nn.Module, *, include_buffers: bool = True) -> int:
    """Bytes of the parameters (each tensor once) plus the buffers when include_buffers."""
    unique = {id(p): p for p in module.parameters()}
    if include_buffers:
        unique.update((id(b), b) for b in module.buffers())
    return sum(tensor_nbytes(t) for t in unique.values())
