"""Pitfall: evaluate returns the accuracy in percent (training_loop.evaluate)."""

from __future__ import annotations

import torch

from solutions.training_loop import *  # noqa: F403


def evaluate(model, loader, loss_fn, device="cpu"):
    was_training = model.training
    model.eval()
    total_loss, n_correct, n_samples = 0.0, 0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            logits = model(inputs)
            total_loss += loss_fn(logits, targets).item() * len(targets)
            n_correct += (logits.argmax(dim=1) == targets).sum().item()
            n_samples += len(targets)
    model.train(was_training)
    return total_loss / n_samples, 100.0 * n_correct / n_samples
