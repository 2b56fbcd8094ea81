"""Pitfall: the gradients reset only after each step (training_loop.train_one_epoch).

Those left before the call leak in.
"""

from __future__ import annotations

from solutions.training_loop import *  # noqa: F403


def train_one_epoch(model, loader, loss_fn, optimizer, device="cpu"):
    model.train()
    total_loss, n_samples = 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        total_loss += loss.item() * len(targets)
        n_samples += len(targets)
    return total_loss / n_samples
