"""Pitfall: zero_grad between backward() and step(), so step() finds no gradient (training_loop.train_one_epoch)."""

from __future__ import annotations

from solutions.training_loop import *  # noqa: F403


def train_one_epoch(model, loader, loss_fn, optimizer, device="cpu"):
    model.train()
    total_loss, n_samples = 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
        total_loss += loss.item() * len(targets)
        n_samples += len(targets)
    return total_loss / n_samples
