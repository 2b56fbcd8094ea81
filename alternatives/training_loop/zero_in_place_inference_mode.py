"""training_loop, a correct style: model.zero_grad(set_to_none=False) before each batch, inference_mode with an
explicit try/finally, accumulation that counts windows up front, fit keeping a cloned state dict."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def train_one_epoch(model: nn.Module, loader: Iterable, loss_fn: LossFn, optimizer: torch.optim.Optimizer,
                    device: torch.device | str = "cpu") -> float:
    model.train(True)
    loss_sum, count = 0.0, 0
    for batch in loader:
        x, y = (t.to(device) for t in batch)
        model.zero_grad(set_to_none=False)  # zeros in place: the same as clearing them
        out = model(x)
        loss = loss_fn(out, y)
        loss.backward()
        optimizer.step()
        n = y.shape[0]
        loss_sum += loss.item() * n
        count += n
    return loss_sum / count if count else 0.0


def evaluate(model: nn.Module, loader: Iterable, loss_fn: LossFn,
             device: torch.device | str = "cpu") -> tuple[float, float]:
    mode = list(map(lambda m: m.training, model.modules()))  # every submodule's own flag, in modules() order
    loss_sum, right, count = 0.0, 0, 0
    try:
        model.train(False)
        with torch.inference_mode():
            for batch in loader:
                x, y = (t.to(device) for t in batch)
                logits = model(x)
                loss_sum += float(loss_fn(logits, y)) * y.shape[0]
                right += int(torch.sum(torch.argmax(logits, dim=-1) == y))
                count += y.shape[0]
    finally:
        for m, flag in zip(model.modules(), mode):
            m.training = flag
    if count == 0:
        return 0.0, 0.0
    return loss_sum / count, right / count


def train_with_accumulation(model: nn.Module, loader: Iterable, loss_fn: LossFn,
                            optimizer: torch.optim.Optimizer, accum_steps: int,
                            device: torch.device | str = "cpu") -> float:
    if not accum_steps >= 1:
        raise ValueError(f"accum_steps={accum_steps}: need at least one micro-batch per step")
    total = len(loader)
    full_windows = total // accum_steps
    tail = total - full_windows * accum_steps
    model.train()
    model.zero_grad(set_to_none=False)
    loss_sum, count = 0.0, 0
    for i, batch in enumerate(loader):
        x, y = (t.to(device) for t in batch)
        in_tail = i >= full_windows * accum_steps
        divisor = tail if in_tail else accum_steps
        loss = loss_fn(model(x), y)
        torch.div(loss, divisor).backward()
        loss_sum += loss.item() * y.shape[0]
        count += y.shape[0]
        if (i + 1) % accum_steps == 0 or i + 1 == total:
            optimizer.step()
            model.zero_grad(set_to_none=False)
    return loss_sum / count if count else 0.0


def fit(model: nn.Module, train_loader: Iterable, val_loader: Iterable, loss_fn: LossFn,
        optimizer: torch.optim.Optimizer, epochs: int, device: torch.device | str = "cpu") -> list[dict]:
    history: list[dict] = []
    best = None
    for e in range(epochs):
        record = {"epoch": e + 1, "train_loss": train_one_epoch(model, train_loader, loss_fn, optimizer, device)}
        record["val_loss"], record["val_acc"] = evaluate(model, val_loader, loss_fn, device)
        history.append(record)
        if best is None or record["val_loss"] < best[0]:
            best = (record["val_loss"], {k: v.detach().clone() for k, v in model.state_dict().items()})
    if best is not None:
        model.load_state_dict(best[1])
    return history
