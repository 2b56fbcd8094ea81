"""Pitfall: autocast entered and exited by hand (production.amp_train_step).

Nothing exits it when the loss raises: autocast stays on for the caller.
"""

from __future__ import annotations

import torch

from solutions import production as reference
from solutions.production import *  # noqa: F403


def amp_train_step(model, inputs, targets, loss_fn, optimizer, scaler=None, *, device_type="cpu",
                   dtype=torch.bfloat16):
    optimizer.zero_grad(set_to_none=True)
    regime = torch.autocast(device_type=device_type, dtype=dtype)
    regime.__enter__()
    loss = loss_fn(model(inputs), targets)
    regime.__exit__(None, None, None)  # never reached when the forward pass or the loss raises
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.item()
