"""Pitfall: activations measured by a real forward on the CPU (efficiency.training_memory).

Right numbers for a small model; a big one is allocated to be sized (and a meta model cannot give them).
"""

from __future__ import annotations

import torch
from torch import nn

from solutions import efficiency as reference
from solutions.efficiency import *  # noqa: F403


def training_memory(model, batch_shape, *, optimizer="adam", param_dtype=torch.float32, autocast_dtype=None):
    out = reference.training_memory(model, batch_shape, optimizer=optimizer, param_dtype=param_dtype,
                                    autocast_dtype=autocast_dtype)
    dtype = autocast_dtype or param_dtype
    first = next((m for m in model.modules() if any(True for _ in m.parameters(recurse=False))), None)
    shape = tuple(batch_shape)
    x = torch.zeros(shape, dtype=torch.int64) if isinstance(first, nn.Embedding) else torch.zeros(shape, dtype=dtype)
    params = {name: torch.zeros(p.shape, dtype=dtype if p.is_floating_point() else p.dtype, requires_grad=True)
              for name, p in model.named_parameters()}
    with torch.enable_grad():
        act = reference.activation_bytes(lambda: torch.func.functional_call(model, params, (x,)))
    out["total"] += act - out["activations"]
    out["activations"] = act
    return out
