"""Pitfall: micro-batches weighed by their samples, not once each (training_loop.train_with_accumulation)."""

from __future__ import annotations

from solutions.training_loop import *  # noqa: F403


def train_with_accumulation(model, loader, loss_fn, optimizer, accum_steps, device="cpu"):
    if accum_steps < 1:
        raise ValueError(f"accum_steps must be at least 1, got {accum_steps}")
    model.train()
    batches = list(loader)
    total_loss, n_samples = 0.0, 0
    for start in range(0, len(batches), accum_steps):
        window = batches[start : start + accum_steps]
        window_samples = sum(len(targets) for _, targets in window)
        optimizer.zero_grad()
        for inputs, targets in window:
            inputs, targets = inputs.to(device), targets.to(device)
            loss = loss_fn(model(inputs), targets)
            (loss * len(targets) / window_samples).backward()  # a short micro-batch weighs less
            total_loss += loss.item() * len(targets)
            n_samples += len(targets)
        optimizer.step()
    optimizer.zero_grad()
    return total_loss / max(n_samples, 1)
