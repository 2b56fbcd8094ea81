"""Pitfall: the caller's model converted with .to(param_dtype) to size it (efficiency.training_memory).
"""

from __future__ import annotations

import torch

from solutions import efficiency as reference
from solutions.efficiency import *  # noqa: F403


def training_memory(model, batch_shape, *, optimizer="adam", param_dtype=torch.float32, autocast_dtype=None):
    model.to(param_dtype)
    return reference.training_memory(model, batch_shape, optimizer=optimizer, param_dtype=param_dtype,
                                     autocast_dtype=autocast_dtype)
