"""Pitfall: the loss returned with .cpu(): a copy to the host at every step (efficiency.train_step).

Free on a CPU, where .cpu() returns the tensor itself; a stall on a GPU, and an error on meta.
"""

from __future__ import annotations

from solutions.efficiency import *  # noqa: F403


def train_step(model, batch, loss_fn, optimizer):
    inputs, targets = batch
    optimizer.zero_grad()
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.detach().cpu()
