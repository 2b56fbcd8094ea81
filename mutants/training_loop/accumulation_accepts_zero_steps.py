"""Pitfall: accum_steps never checked (training_loop.train_with_accumulation).

accum_steps=0 fails with ZeroDivisionError instead of ValueError.
"""

from __future__ import annotations

from solutions import training_loop as reference
from solutions.training_loop import *  # noqa: F403


def train_with_accumulation(model, loader, loss_fn, optimizer, accum_steps, device="cpu"):
    model.train()
    n_batches = len(loader)
    total_loss, n_samples = 0.0, 0
    optimizer.zero_grad()
    for i, (inputs, targets) in enumerate(loader):
        window_start = i - i % accum_steps
        window_size = min(accum_steps, n_batches - window_start)
        inputs, targets = inputs.to(device), targets.to(device)
        loss = loss_fn(model(inputs), targets)
        (loss / window_size).backward()
        total_loss += loss.item() * len(targets)
        n_samples += len(targets)
        if i + 1 == window_start + window_size:
            optimizer.step()
            optimizer.zero_grad()
    return total_loss / max(n_samples, 1)
