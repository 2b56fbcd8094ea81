"""Pitfall: activation_bytes counts the parameters as activations (efficiency.activation_bytes).

A Linear whose input requires grad saves weight.t() for the input's gradient: the weight is counted.
"""

from __future__ import annotations

import torch

from solutions.efficiency import *  # noqa: F403


def activation_bytes(fn, *args):
    seen = {}

    def pack(t):
        storage = t.untyped_storage()
        seen.setdefault(storage._cdata, storage)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args)
    return sum(s.nbytes() for s in seen.values())
