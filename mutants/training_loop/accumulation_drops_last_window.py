"""Pitfall: the final partial window never steps (training_loop.train_with_accumulation)."""

from __future__ import annotations

from solutions.training_loop import *  # noqa: F403


def train_with_accumulation(model, loader, loss_fn, optimizer, accum_steps, device="cpu"):
    model.train()
    total_loss, n_samples = 0.0, 0
    optimizer.zero_grad()
    for i, (inputs, targets) in enumerate(loader):
        inputs, targets = inputs.to(device), targets.to(device)
        loss = loss_fn(model(inputs), targets)
        (loss / accum_steps).backward()
        total_loss += loss.item() * len(targets)
        n_samples += len(targets)
        if (i + 1) % accum_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
    return total_loss / n_samples
