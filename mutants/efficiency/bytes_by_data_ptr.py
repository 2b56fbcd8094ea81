"""Pitfall: storages told apart by data_ptr() (efficiency.activation_bytes).

Right on the CPU; on meta every pointer is 0, so every saved storage merges into the first.
"""

from __future__ import annotations

import torch
from torch import nn

from solutions.efficiency import *  # noqa: F403


def activation_bytes(fn, *args):
    seen = {}
    kept = []

    def pack(t):
        if not (isinstance(t, nn.Parameter) or isinstance(t._base, nn.Parameter)):
            kept.append(t)
            seen.setdefault((t.device, t.untyped_storage().data_ptr()), t.untyped_storage().nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args)
    return sum(seen.values())
