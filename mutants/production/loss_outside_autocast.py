"""Pitfall: the loss computed after the autocast block (production.amp_train_step).

Only the forward pass runs under autocast; the loss runs in the outputs' low precision (a bfloat16 softmax).
"""

from __future__ import annotations

import torch

from solutions import production as reference
from solutions.production import *  # noqa: F403


def amp_train_step(model, inputs, targets, loss_fn, optimizer, scaler=None, *, device_type="cpu",
                   dtype=torch.bfloat16):
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=device_type, dtype=dtype):
        outputs = model(inputs)
    loss = loss_fn(outputs, targets)  # outside autocast: a bfloat16 softmax for bfloat16 logits
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.item()
