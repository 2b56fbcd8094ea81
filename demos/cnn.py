"""Demo of cnn: output sizes, convolution as im2col + matmul, and SmallCNN learning the digits.

    python -m exercises.cnn [--quick] [--png PATH]

1. A few conv layers' output sizes from `conv2d_output_size`, checked against `nn.Conv2d`.
2. `conv2d_unfold` against `F.conv2d` in float64: the largest difference, and the size of the im2col matrix.
3. `SmallCNN` trained on the 8x8 digits with Adam: per-epoch loss and held-out accuracy, the parameter
   count, the time taken, and the same network run on 28x28 inputs (adaptive pooling at work).
With `--png`, saves the learned first-layer filters and some misclassified test digits.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from demos import device, pyplot
from kata.learn.data import digits


def _output_sizes(m) -> None:
    print("1. conv2d_output_size vs nn.Conv2d")
    layers = [
        ("3x3, padding 1", (28, 28), dict(kernel_size=3, padding=1)),
        ("3x3, stride 2", (28, 28), dict(kernel_size=3, stride=2)),
        ("7x7, stride 2, pad 3", (224, 224), dict(kernel_size=7, stride=2, padding=3)),
        ("3x3, dilation 2", (8, 8), dict(kernel_size=3, dilation=2)),
        ("(3, 5), stride (1, 2)", (8, 12), dict(kernel_size=(3, 5), stride=(1, 2), padding=(1, 0))),
    ]
    agree = 0
    for name, size, kw in layers:
        mine = m.conv2d_output_size(size, **kw)
        conv = nn.Conv2d(1, 1, **kw)
        real = tuple(conv(torch.zeros(0, 1, *size)).shape[-2:])  # an empty batch: shapes only
        agree += mine == real
        print(f"   {name:<24} {size[0]:>3}x{size[1]:<3} -> mine {mine}, nn.Conv2d {real}"
              f"{'' if mine == real else '   <-- differs'}")
    print(f"   {agree} of {len(layers)} sizes agree with nn.Conv2d; 28 with a 3x3 kernel at stride 2 gives 13, not 14: "
          "floor((28 - 3) / 2) + 1, the last partial window is dropped")


def _unfold_check(m) -> float:
    print("\n2. conv2d_unfold (im2col + one matrix product) vs F.conv2d, float64")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, 28, 28, generator=g, dtype=torch.float64)
    weight = torch.randn(16, 3, 3, 3, generator=g, dtype=torch.float64)
    bias = torch.randn(16, generator=g, dtype=torch.float64)
    cols = F.unfold(x, (3, 3), padding=1, stride=2)
    mine = m.conv2d_unfold(x, weight, bias, stride=2, padding=1)
    ref = F.conv2d(x, weight, bias, stride=2, padding=1)
    diff = (mine - ref).abs().max().item()
    print(f"   x {tuple(x.shape)}, weight {tuple(weight.shape)}, stride 2, padding 1")
    print(f"   F.unfold columns {tuple(cols.shape)}  (N, C_in*kh*kw, L = H_out*W_out)")
    print(f"   output {tuple(mine.shape)}, max |mine - F.conv2d| = {diff:.2e}")
    print(f"   one product of the (16, {cols.shape[1]}) flattened filters with the {tuple(cols.shape)} columns did all "
          f"{cols.shape[0] * cols.shape[2] * 16:,} dot products; "
          + ("the difference is float64 rounding" if diff < 1e-9 else "a difference that large is a wrong result"))
    return diff


def _accuracy(model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def main(m, *, quick: bool = False, save_png: str | None = None) -> dict:
    torch.manual_seed(0)
    dev = device()
    _output_sizes(m)
    diff = _unfold_check(m)

    epochs = 2 if quick else 10
    x_train, y_train = (t.to(dev) for t in digits("train"))
    x_test, y_test = (t.to(dev) for t in digits("test"))
    model = m.SmallCNN().to(dev)
    model.eval()
    with torch.no_grad():
        model(x_train[:2])  # materialises lazy layers (an nn.LazyLinear classifier is allowed) before counting
    model.train()
    params = sum(p.numel() for p in model.parameters())
    print(f"\n3. SmallCNN on the digits ({len(y_train)} train / {len(y_test)} test, 8x8) on {dev}: "
          f"{params:,} parameters")
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    order = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    losses, accs = [], []
    for epoch in range(1, epochs + 1):
        model.train()
        total, perm = 0.0, torch.randperm(len(y_train), generator=order).to(dev)
        for i in range(0, len(y_train), 64):
            idx = perm[i : i + 64]
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(y_train))
        accs.append(_accuracy(model, x_test, y_test))
        print(f"   epoch {epoch:>2}  train loss {losses[-1]:.4f}  held-out accuracy {accs[-1]:.1%}")
    seconds = time.perf_counter() - start
    print(f"   trained in {seconds:.1f}s; held-out accuracy went from {accs[0]:.1%} after epoch 1 to {accs[-1]:.1%} "
          f"(guessing would score 10%), on digits the network never trained on")

    big = F.interpolate(x_test, size=(28, 28), mode="bilinear", align_corners=False)
    model.eval()
    with torch.no_grad():
        big_logits = model(big)
        big_acc = (big_logits.argmax(1) == y_test).float().mean().item()
    print(f"   the same network runs on the {len(y_test)} held-out digits upsampled to 28x28: logits "
          f"{tuple(big_logits.shape)}, thanks to adaptive pooling; it gets {big_acc:.1%} of them right against "
          f"{accs[-1]:.1%} at 8x8: "
          + ("what it learned carries over to the larger scale" if big_acc >= accs[-1] - 0.05 else
             "running at a new size is not knowing it, its 3x3 filters learned strokes at the 8x8 scale"))

    if save_png and (plt := pyplot()) is not None:
        _figure(plt, model, x_test, y_test, save_png)
    return {"params": params, "test_accuracy": accs[-1], "losses": losses, "accuracies": accs,
            "unfold_max_abs_diff": diff, "seconds": seconds}


def _figure(plt, model, x_test, y_test, path: str) -> None:
    """Left: first-layer filters; right: misclassified test digits with prediction and truth."""
    first = next(mod for mod in model.modules() if isinstance(mod, nn.Conv2d))
    filters = first.weight.detach().cpu()[:, 0]  # (C_out, kh, kw), first input channel
    with torch.no_grad():
        pred = model(x_test).argmax(1)
    wrong = (pred != y_test).nonzero().flatten()[:8].cpu()
    fig, axes = plt.subplots(2, 8, figsize=(12, 3.5))
    for k, ax in enumerate(axes[0]):
        ax.axis("off")
        if k < len(filters):
            ax.imshow(filters[k], cmap="RdBu")
            ax.set_title(f"filter {k}", fontsize=8)
    for k, ax in enumerate(axes[1]):
        ax.axis("off")
        if k < len(wrong):
            i = wrong[k].item()
            ax.imshow(x_test[i, 0].cpu(), cmap="gray_r")
            ax.set_title(f"pred {pred[i].item()} / true {y_test[i].item()}", fontsize=8)
    fig.suptitle("SmallCNN: first-layer filters (top), misclassified test digits (bottom)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"   saved {path}")
