"""Pitfall: torch.autocast(device_type) without dtype= (production.amp_train_step).

The device's default low precision (bfloat16 on the CPU) instead of the dtype asked for.
"""

from __future__ import annotations

import torch

from solutions.production import *  # noqa: F403


def amp_train_step(model, inputs, targets, loss_fn, optimizer, scaler=None, *, device_type="cpu",
                   dtype=torch.bfloat16):
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=device_type):
        loss = loss_fn(model(inputs), targets)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.item()
