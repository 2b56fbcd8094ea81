"""Pitfall: loss.item() in every step (efficiency.train_step).

The step logs the loss as a Python float and hands back a fresh tensor: the host waits for the
device at every step.
"""

from __future__ import annotations

import torch

from solutions.efficiency import *  # noqa: F403


def train_step(model, batch, loss_fn, optimizer):
    inputs, targets = batch
    optimizer.zero_grad()
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    optimizer.step()
    value = loss.item()
    return torch.tensor(value, device=loss.device, dtype=loss.dtype)
