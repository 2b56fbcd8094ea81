"""Pitfall: fit ends with the last epoch's weights, not the best epoch's (training_loop.fit)."""

from __future__ import annotations

from solutions.training_loop import *  # noqa: F403


def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, device="cpu"):
    history = []
    for epoch in range(1, epochs + 1):
        train_loss = train_one_epoch(model, train_loader, loss_fn, optimizer, device)  # noqa: F405
        val_loss, val_acc = evaluate(model, val_loader, loss_fn, device)  # noqa: F405
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc})
    return history
