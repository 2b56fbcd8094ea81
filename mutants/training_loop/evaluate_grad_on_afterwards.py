"""Pitfall: autograd switched on afterwards (training_loop.evaluate).

torch.set_grad_enabled(True) instead of putting back the caller's grad mode: inside a caller's no_grad
block it turns autograd on.
"""

from __future__ import annotations

import torch

from solutions import training_loop as reference
from solutions.training_loop import *  # noqa: F403


def evaluate(model, loader, loss_fn, device="cpu"):
    was_training = model.training
    model.eval()
    torch.set_grad_enabled(False)
    total_loss, n_correct, n_samples = 0.0, 0, 0
    try:
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            logits = model(inputs)
            total_loss += loss_fn(logits, targets).item() * len(targets)
            n_correct += (logits.argmax(dim=1) == targets).sum().item()
            n_samples += len(targets)
    finally:
        torch.set_grad_enabled(True)  # on, whatever the caller had
        model.train(was_training)
    return total_loss / n_samples, n_correct / n_samples
