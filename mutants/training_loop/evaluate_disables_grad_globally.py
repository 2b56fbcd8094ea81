"""Pitfall: torch.set_grad_enabled(False) called bare, so autograd stays off afterwards (training_loop.evaluate)."""

from __future__ import annotations

import torch

from solutions.training_loop import *  # noqa: F403


def evaluate(model, loader, loss_fn, device="cpu"):
    was_training = model.training
    model.eval()
    torch.set_grad_enabled(False)  # not a `with` block: never switched back on
    total_loss, n_correct, n_samples = 0.0, 0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        logits = model(inputs)
        total_loss += loss_fn(logits, targets).item() * len(targets)
        n_correct += (logits.argmax(dim=1) == targets).sum().item()
        n_samples += len(targets)
    model.train(was_training)
    return total_loss / n_samples, n_correct / n_samples
