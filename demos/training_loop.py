"""Demo of training_loop: the same model trained with a correct loop and with the forgotten zero_grad.

On the handwritten digits (kata.learn.data), a small MLP is trained twice from the same initial weights:
once with the topic's `train_one_epoch`, once with an inline copy that never resets the gradients.
The loss per epoch of both is printed side by side (and plotted with --png). Then `fit()` trains a
fresh model with validation after every epoch and hands back the weights of its best epoch.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

import demos
from kata.learn.data import batches, digits


def _buggy_train_one_epoch(model, loader, loss_fn, optimizer, device="cpu") -> float:
    """The loop as it ships in exercises/: gradients are never reset, so step k follows the sum of k gradients."""
    model.train()
    total_loss, n_samples = 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        loss = loss_fn(model(inputs), targets)
        loss.backward()  # adds to .grad, which still holds every earlier batch's gradient
        optimizer.step()
        total_loss += loss.item() * len(targets)
        n_samples += len(targets)
    return total_loss / n_samples


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def _fmt(x: float) -> str:
    return f"{x:10.4f}" if math.isfinite(x) else f"{x!s:>10}"


def _compare_line(good: list[float], bad: list[float]) -> str:
    """What the two curves show, in their own numbers."""
    worse = [i for i, (g, b) in enumerate(zip(good, bad), start=1) if b > g]
    if not worse:
        return "the two loops give the same losses: is the bug still in your train_one_epoch?"
    first = worse[0]
    ahead = (f"it is ahead in epoch{'s 1 to' if first > 2 else ''} {first - 1} (like an ever larger learning "
             "rate), then " if first > 1 else "")
    trend = f"rises from {bad[0]:.3f} to {bad[-1]:.3f}" if bad[-1] > bad[0] else f"falls only to {bad[-1]:.3f}"
    return (f"without the reset {ahead}the loss is worse from epoch {first} ({bad[first - 1]:.3f} against "
            f"{good[first - 1]:.3f}) and {trend}, while the correct loop's falls to {good[-1]:.3f}: step k follows "
            "the sum of all k gradients so far, a step that keeps growing")


def _fit_line(history: list[dict], best: dict, val_loss: float) -> str:
    """What fit's table shows: where validation stopped improving, and which weights came back."""
    after = [r["val_loss"] for r in history if r["epoch"] > best["epoch"]]
    line = f"validation loss is lowest at epoch {best['epoch']} ({best['val_loss']:.4f})"
    if after:
        line += (f"; after it the training loss keeps falling ({best['train_loss']:.4f} to "
                 f"{history[-1]['train_loss']:.4f}) while validation rises to {history[-1]['val_loss']:.4f}: "
                 "overfitting begins")
    else:
        line += ", the last one: more epochs would still help"
    same = math.isclose(val_loss, best["val_loss"], rel_tol=1e-6, abs_tol=1e-9)
    return line + (f", and the model fit() returned is that epoch's ({val_loss:.4f})" if same else
                   f", yet the model fit() returned scores {val_loss:.4f}: the best weights were not put back")


def main(m, *, quick: bool = False, save_png: str | None = None) -> dict:
    device = demos.device()
    x_train, y_train = digits("train")
    x_val, y_val = digits("test")
    if quick:
        x_train, y_train, x_val, y_val = x_train[:512], y_train[:512], x_val[:200], y_val[:200]
    epochs = 4 if quick else 8
    lr, batch_size = 0.5, 32
    train_loader = batches(x_train, y_train, batch_size)
    val_loader = batches(x_val, y_val, 256)
    loss_fn = nn.CrossEntropyLoss()
    print(f"digits: {len(y_train)} training and {len(y_val)} validation images of 8x8, "
          f"MLP 64-32-10, SGD lr={lr}, batches of {batch_size}, on {device}")

    # 1. the same start, two loops
    torch.manual_seed(0)
    start = _mlp()
    curves = {}
    for name, loop in (("correct", m.train_one_epoch), ("buggy", _buggy_train_one_epoch)):
        model = copy.deepcopy(start).to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        curves[name] = [loop(model, train_loader, loss_fn, optimizer, device) for _ in range(epochs)]
    print("\ntraining loss per epoch (mean per sample)")
    print(f"{'epoch':>5} {'correct':>10} {'no zero_grad':>13}")
    for i, (good, bad) in enumerate(zip(curves["correct"], curves["buggy"]), start=1):
        print(f"{i:>5} {_fmt(good)} {_fmt(bad):>13}")
    print(_compare_line(curves["correct"], curves["buggy"]))

    # 2. fit: validation after every epoch, best weights kept
    torch.manual_seed(1)
    model = _mlp().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    history = m.fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, device)
    best = min(history, key=lambda r: r["val_loss"])
    print(f"\nfit() on a fresh model, SGD lr={lr}: validation after every epoch, the best epoch's weights kept")
    print(f"{'epoch':>5} {'train_loss':>10} {'val_loss':>10} {'val_acc':>8}")
    for r in history:
        mark = "  <- best, kept" if r is best else ""
        print(f"{r['epoch']:>5} {_fmt(r['train_loss'])} {_fmt(r['val_loss'])} {r['val_acc']:8.3f}{mark}")
    val_loss, val_acc = m.evaluate(model, val_loader, loss_fn, device)
    print(f"the model fit() returned: val_loss {val_loss:.4f}, val_acc {val_acc:.3f}")
    print(_fit_line(history, best, val_loss))

    if save_png and (plt := demos.pyplot()) is not None:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(range(1, epochs + 1), curves["correct"], marker="o", label="correct loop")
        ax.plot(range(1, epochs + 1), curves["buggy"], marker="x", label="zero_grad forgotten")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss (mean per sample)")
        ax.set_title("digits MLP: the forgotten zero_grad")
        ax.legend()
        fig.tight_layout()
        fig.savefig(save_png, dpi=120)
        print(f"figure saved to {save_png}")

    return {
        "correct_final_loss": curves["correct"][-1],
        "buggy_final_loss": curves["buggy"][-1],
        "best_epoch": best["epoch"],
        "best_val_loss": best["val_loss"],
        "val_acc": val_acc,
    }
