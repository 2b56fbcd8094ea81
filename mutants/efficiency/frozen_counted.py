"""Pitfall: gradients and moments counted for frozen parameters too (efficiency.training_memory).
"""

from __future__ import annotations

import torch

from solutions import efficiency as reference
from solutions.efficiency import *  # noqa: F403


def training_memory(model, batch_shape, *, optimizer="adam", param_dtype=torch.float32, autocast_dtype=None):
    out = reference.training_memory(model, batch_shape, optimizer=optimizer, param_dtype=param_dtype,
                                    autocast_dtype=autocast_dtype)
    moments = {"adam": 2, "sgd": 0, "sgd_momentum": 1}[optimizer]
    out["grads"] = out["params"]
    out["optimizer_state"] = moments * out["params"]
    out["total"] = out["params"] + out["grads"] + out["optimizer_state"] + out["activations"]
    return out
