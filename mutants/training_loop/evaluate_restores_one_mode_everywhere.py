"""Pitfall: evaluate restores with model.train(was_training), flipping mixed modes (training_loop.evaluate)."""

from __future__ import annotations

import torch

from solutions.training_loop import *  # noqa: F403


def evaluate(model, loader, loss_fn, device="cpu"):
    was_training = model.training
    model.eval()
    total_loss, n_correct, n_samples = 0.0, 0, 0
    try:
        with torch.no_grad():
            for inputs, targets in loader:
                inputs, targets = inputs.to(device), targets.to(device)
                logits = model(inputs)
                total_loss += loss_fn(logits, targets).item() * len(targets)
                n_correct += (logits.argmax(dim=1) == targets).sum().item()
                n_samples += len(targets)
    finally:
        model.train(was_training)  # one mode for every submodule: a frozen BatchNorm comes back in train
    n_samples = max(n_samples, 1)
    return total_loss / n_samples, n_correct / n_samples
