"""Demo of autograd: a hand-written backward pass of a small MLP on the digits, checked against
autograd and against finite differences, then used to train the network without autograd.

    python -m exercises.autograd [--quick] [--png loss.png]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from demos import device, pyplot
from kata.learn.data import batches, digits


def _init(d_in: int, d_hidden: int, n_classes: int, *, dev, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """He-style init of a two-layer MLP, float64, plain tensors (no requires_grad)."""

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64).to(dev)

    return {
        "w1": randn(d_hidden, d_in) * (2.0 / d_in) ** 0.5,
        "b1": torch.zeros(d_hidden, dtype=torch.float64, device=dev),
        "w2": randn(n_classes, d_hidden) * (1.0 / d_hidden) ** 0.5,
        "b2": torch.zeros(n_classes, dtype=torch.float64, device=dev),
    }


def _logits(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x @ p["w1"].T + p["b1"]) @ p["w2"].T + p["b2"]


def _autograd_grads(p: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in p.items()}
    F.cross_entropy(_logits(leaves, x), y).backward()
    return {k: v.grad for k, v in leaves.items()}


def main(m, *, quick: bool = False, save_png: str | None = None) -> dict:
    dev = device()
    gen = torch.Generator().manual_seed(0)
    x_train, y_train = digits("train")
    x_test, y_test = digits("test")
    x_train = x_train.flatten(1).to(dev, torch.float64)  # (N, 64)
    x_test = x_test.flatten(1).to(dev, torch.float64)
    y_train, y_test = y_train.to(dev), y_test.to(dev)
    params = _init(64, 32, 10, dev=dev, generator=gen)

    print(f"MLP 64 -> 32 -> 10 on the digits ({len(y_train)} train, {len(y_test)} test), float64, on {dev}")

    # 1. The hand-written backward pass against autograd, on one batch.
    xb, yb = x_train[:64], y_train[:64]
    hand = m.mlp_backward(xb, yb, params["w1"], params["b1"], params["w2"], params["b2"])
    auto = _autograd_grads(params, xb, yb)
    print("\n1. mlp_backward vs loss.backward() on a batch of 64:")
    diffs = {}
    for name in ("w1", "b1", "w2", "b2"):
        diffs[name] = (hand[name] - auto[name]).abs().max().item()
        print(
            f"   {name:<3} shape {str(tuple(params[name].shape)):<9} max|grad| {auto[name].abs().max().item():.3e}"
            f"   max|hand - autograd| {diffs[name]:.1e}"
        )

    worst = max(diffs.values())
    print(f"   -> the largest disagreement with autograd is {worst:.1e}: "
          + ("float64 rounding, so the chain rule by hand is autograd's" if worst < 1e-9 else
             "far above float64 rounding (1e-12 or less): a gradient is wrong"))

    # 2. Both against finite differences, which need neither: the loss as a function of b2 alone.
    def loss_of_b2(b2: torch.Tensor) -> float:
        return F.cross_entropy(_logits({**params, "b2": b2}, xb), yb).item()

    numeric = m.numerical_gradient(loss_of_b2, params["b2"], eps=1e-6)
    numeric_diff = (numeric - hand["b2"]).abs().max().item()
    print(f"\n2. central differences on b2 (20 loss evaluations): max|numeric - hand| {numeric_diff:.1e}")

    # 3. Train with the hand gradients only: plain SGD, no autograd anywhere.
    epochs, lr, batch_size = (1, 0.5, 64) if quick else (15, 0.5, 64)
    perm = torch.randperm(len(y_train), generator=gen).to(dev)
    train_batches = batches(x_train[perm], y_train[perm], batch_size)

    def evaluate() -> tuple[float, float]:
        logits = _logits(params, x_test)
        return F.cross_entropy(logits, y_test).item(), (logits.argmax(1) == y_test).double().mean().item()

    loss_before, acc_before = evaluate()
    history = [loss_before]
    print(f"\n3. SGD (lr {lr}, batch {batch_size}) with mlp_backward's gradients, {epochs} epoch(s):")
    print(f"   epoch  0: test loss {loss_before:.4f}  test accuracy {acc_before:.1%}")
    with torch.no_grad():  # nothing to record: the gradients come from our own backward pass
        for epoch in range(1, epochs + 1):
            for xb, yb in train_batches:
                grads = m.mlp_backward(xb, yb, params["w1"], params["b1"], params["w2"], params["b2"])
                for name in params:
                    params[name] -= lr * grads[name]
            loss, acc = evaluate()
            history.append(loss)
            if quick or epoch % 5 == 0 or epoch == 1:
                print(f"   epoch {epoch:2d}: test loss {loss:.4f}  test accuracy {acc:.1%}")

    print(f"   -> test accuracy went from {acc_before:.1%} to {acc:.1%} and the test loss from {loss_before:.4f} to "
          f"{loss:.4f} with no autograd at all: "
          + ("the hand-written gradients train the network" if acc > acc_before else
             "no better, so a hand-written gradient points the wrong way"))

    plt = pyplot() if save_png else None
    if plt is not None:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot(range(len(history)), history, marker="o")
        ax.set_xlabel("epoch")
        ax.set_ylabel("test cross-entropy")
        ax.set_title("SGD with a hand-written backward pass")
        fig.tight_layout()
        fig.savefig(save_png, dpi=120)
        print(f"   saved {save_png}")

    return {
        "max_abs_diff": max(diffs.values()),
        "max_abs_diff_per_param": diffs,
        "numerical_max_abs_diff": numeric_diff,
        "loss_before": loss_before,
        "loss_after": history[-1],
        "accuracy_before": acc_before,
        "accuracy_after": acc,
    }
