"""Pitfall: scaler.scale and scaler.step without scaler.update (production.amp_train_step)."""

from __future__ import annotations

import torch

from solutions.production import *  # noqa: F403


def amp_train_step(model, inputs, targets, loss_fn, optimizer, scaler=None, *, device_type="cpu",
                   dtype=torch.bfloat16):
    optimizer.zero_grad()
    with torch.autocast(device_type=device_type, dtype=dtype):
        loss = loss_fn(model(inputs), targets)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
    return loss.item()
