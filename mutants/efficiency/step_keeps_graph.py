"""Pitfall: the loss returned with its graph (efficiency.train_step).

A caller that keeps an epoch's losses for mean_loss keeps every step's graph alive.
"""

from __future__ import annotations

from solutions.efficiency import *  # noqa: F403


def train_step(model, batch, loss_fn, optimizer):
    inputs, targets = batch
    optimizer.zero_grad()
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss
