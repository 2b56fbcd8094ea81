"""tensors, a correct alternative: structural pattern matching, copies of the containers, explicit byte sums.

Red-team style for the test suite: written from the contract alone, in a style unlike solutions/.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn


def pick_device(preferred: str | None = None) -> torch.device:
    """cuda, else mps, else cpu; a preferred device must be available (ValueError naming it otherwise)."""
    if preferred is None:
        return torch.device("cuda" if torch.cuda.is_available()
                            else "mps" if torch.backends.mps.is_available() else "cpu")
    device = torch.device(preferred)
    match device.type:
        case "cpu":
            ok = True
        case "cuda":
            ok = torch.cuda.is_available() and (device.index is None or 0 <= device.index < torch.cuda.device_count())
        case "mps":
            ok = torch.backends.mps.is_available()
        case _:
            ok = False
    if not ok:
        raise ValueError(f"device {preferred} is not available")
    return device


def move_to(obj, device, *, dtype: torch.dtype | None = None, non_blocking: bool = False):
    """Move every tensor of a nested batch; same container types, non-tensor leaves untouched."""

    def rec(node):
        match node:
            case torch.Tensor():
                if dtype is not None and node.dtype.is_floating_point:
                    return node.to(device=device, dtype=dtype, non_blocking=non_blocking)
                return node.to(device=device, non_blocking=non_blocking)
            case dict():
                out = copy.copy(node)  # same type (OrderedDict, defaultdict...), a new object
                out.update((key, rec(value)) for key, value in node.items())
                return out
            case tuple() if hasattr(node, "_fields"):
                return type(node)(*map(rec, node))
            case list() | tuple():
                return type(node)(map(rec, node))
            case _:
                return node

    return rec(obj)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """detach, to the host, bfloat16 -> float32, then NumPy."""
    host = t.detach().cpu()
    out = np.empty(tuple(host.shape), dtype=np.float32 if host.dtype == torch.bfloat16 else host.numpy().dtype)
    out[...] = (host.float() if host.dtype == torch.bfloat16 else host).numpy()  # fresh memory, filled
    return out


def tensor_nbytes(t) -> int:
    """Bytes of the tensor's own elements."""
    return t.nelement() * t.element_size()


def module_nbytes(module: nn.Module, *, include_buffers: bool = True) -> int:
    """Walk named_parameters/named_buffers (each tensor reported once) and add up their bytes."""
    total = sum(tensor_nbytes(p) for _, p in module.named_parameters())
    if include_buffers:
        total += sum(tensor_nbytes(b) for _, b in module.named_buffers())
    return total
