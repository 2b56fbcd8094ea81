"""Pitfall: model.to(dtype), i.e. model.half(), instead of autocast (production.amp_train_step).

The float32 master weights are gone: the parameters, gradients and updates all live in low precision.
"""

from __future__ import annotations

import torch

from solutions.production import *  # noqa: F403


def amp_train_step(model, inputs, targets, loss_fn, optimizer, scaler=None, *, device_type="cpu",
                   dtype=torch.bfloat16):
    optimizer.zero_grad()
    model.to(dtype)
    outputs = model(inputs.to(dtype))
    loss = loss_fn(outputs.float(), targets)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.item()
