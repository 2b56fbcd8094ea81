"""Pitfall: Adam's two moments forgotten (efficiency.training_memory).

Parameters and gradients only: a step "needs" 2x the weights' memory instead of about 4x.
"""

from __future__ import annotations

import torch

from solutions import efficiency as reference
from solutions.efficiency import *  # noqa: F403


def training_memory(model, batch_shape, *, optimizer="adam", param_dtype=torch.float32, autocast_dtype=None):
    out = reference.training_memory(model, batch_shape, optimizer=optimizer, param_dtype=param_dtype,
                                    autocast_dtype=autocast_dtype)
    if optimizer == "adam":
        out["total"] -= out["optimizer_state"]
        out["optimizer_state"] = 0
    return out
