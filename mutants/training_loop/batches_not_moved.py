"""Pitfall: `device` is ignored, the batches stay on the CPU (training_loop.train_one_epoch).

Only CUDA tests reject it.
"""

from __future__ import annotations

from solutions.training_loop import *  # noqa: F403


def train_one_epoch(model, loader, loss_fn, optimizer, device="cpu"):
    model.train()
    total_loss, n_samples = 0.0, 0
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(targets)
        n_samples += len(targets)
    return total_loss / n_samples
