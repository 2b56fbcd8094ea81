"""Pitfall: per-batch losses and accuracies averaged, not weighed by samples (training_loop.evaluate)."""

from __future__ import annotations

import torch

from solutions.training_loop import *  # noqa: F403


def evaluate(model, loader, loss_fn, device="cpu"):
    was_training = model.training
    model.eval()
    losses, accs = [], []
    with torch.no_grad():
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            logits = model(inputs)
            losses.append(loss_fn(logits, targets).item())
            accs.append((logits.argmax(dim=1) == targets).float().mean().item())
    model.train(was_training)
    return sum(losses) / len(losses), sum(accs) / len(accs)
