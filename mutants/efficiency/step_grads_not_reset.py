"""Pitfall: gradients not reset before the step (efficiency.train_step).

backward() adds into .grad: the previous step's gradients leak into this one.
"""

from __future__ import annotations

from solutions.efficiency import *  # noqa: F403


def train_step(model, batch, loss_fn, optimizer):
    inputs, targets = batch
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.detach()
