"""Pitfall: model.train() never called: a model left in eval trains frozen (training_loop.train_with_accumulation)."""

from __future__ import annotations

from solutions.training_loop import *  # noqa: F403


def train_with_accumulation(model, loader, loss_fn, optimizer, accum_steps, device="cpu"):
    batches = list(loader)
    total_loss, n_samples = 0.0, 0
    for start in range(0, len(batches), accum_steps):
        window = batches[start : start + accum_steps]
        optimizer.zero_grad()
        for inputs, targets in window:
            inputs, targets = inputs.to(device), targets.to(device)
            loss = loss_fn(model(inputs), targets)
            (loss / len(window)).backward()
            total_loss += loss.item() * len(targets)
            n_samples += len(targets)
        optimizer.step()
    return total_loss / n_samples
