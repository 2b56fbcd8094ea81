"""Pitfall: evaluate puts the model's mode back only when the whole pass succeeds (training_loop.evaluate).

An error in the loader or the model leaves a model that came in train mode in eval mode.
"""

from __future__ import annotations

import torch

from solutions import training_loop as reference
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
    return total_loss / n_samples, n_correct / n_samples
