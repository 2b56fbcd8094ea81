"""Pitfall: evaluate runs with autograd on, building graphs nobody uses (training_loop.evaluate)."""

from __future__ import annotations

from solutions.training_loop import *  # noqa: F403


def evaluate(model, loader, loss_fn, device="cpu"):
    was_training = model.training
    model.eval()
    total_loss, n_correct, n_samples = 0.0, 0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        logits = model(inputs)
        total_loss += loss_fn(logits, targets).item() * len(targets)
        n_correct += (logits.argmax(dim=1) == targets).sum().item()
        n_samples += len(targets)
    model.train(was_training)
    return total_loss / n_samples, n_correct / n_samples
