"""Pitfall: activation_bytes counts every saved tensor (efficiency.activation_bytes).

A storage saved twice (x and x.t() by one matmul, a ReLU output saved by the ReLU and the next Linear) counts twice.
"""

from __future__ import annotations

import torch
from torch import nn

from solutions.efficiency import *  # noqa: F403


def activation_bytes(fn, *args):
    total = [0]

    def pack(t):
        if not (isinstance(t, nn.Parameter) or isinstance(t._base, nn.Parameter)):
            total[0] += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*args)
    return total[0]
