"""Pitfall: a NaN check with an `if` on the loss (efficiency.train_step).

A data-dependent Python branch reads the value back to decide: a synchronisation every step.
"""

from __future__ import annotations

import torch

from solutions.efficiency import *  # noqa: F403


def train_step(model, batch, loss_fn, optimizer):
    inputs, targets = batch
    optimizer.zero_grad()
    loss = loss_fn(model(inputs), targets)
    if not torch.isfinite(loss):
        raise FloatingPointError("the loss is not finite")
    loss.backward()
    optimizer.step()
    return loss.detach()
