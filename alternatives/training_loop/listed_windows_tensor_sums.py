"""training_loop, a correct style: losses summed as float64 tensors and read once, no_grad through a decorator and
a context manager that restores the mode, accumulation over windows sliced from the listed loader, fit keeping a
deep copy of the best model."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@contextlib.contextmanager
def _mode(model: nn.Module, training: bool) -> Iterator[None]:
    before = [(m, m.training) for m in model.modules()]  # mixed modes: one flag per submodule
    model.train(training)
    try:
        yield
    finally:
        for m, flag in before:  # parents before children: each train() is then corrected below it
            m.train(flag)


def _step(model, batch, loss_fn, device, scale: float = 1.0) -> tuple[torch.Tensor, int]:
    inputs, targets = batch
    inputs, targets = inputs.to(device), targets.to(device)
    loss = loss_fn(model(inputs), targets)
    (loss * scale).backward()
    return loss.detach().to(torch.float64) * len(targets), len(targets)


def train_one_epoch(model: nn.Module, loader: Iterable, loss_fn: LossFn, optimizer: torch.optim.Optimizer,
                    device: torch.device | str = "cpu") -> float:
    model.train()
    total, count = torch.zeros((), dtype=torch.float64), 0
    for batch in loader:
        optimizer.zero_grad(set_to_none=True)
        weighted, n = _step(model, batch, loss_fn, device)
        optimizer.step()
        total, count = total + weighted.cpu(), count + n
    return (total / max(count, 1)).item()


@torch.no_grad()
def _measure(model, loader, loss_fn, device) -> tuple[float, float]:
    total, right, count = torch.zeros((), dtype=torch.float64), 0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        logits = model(inputs)
        total += loss_fn(logits, targets).to(torch.float64).cpu() * len(targets)
        right += (logits.max(dim=1).indices == targets).sum().item()
        count += len(targets)
    count = max(count, 1)
    return (total / count).item(), right / count


def evaluate(model: nn.Module, loader: Iterable, loss_fn: LossFn,
             device: torch.device | str = "cpu") -> tuple[float, float]:
    with _mode(model, False):
        return _measure(model, loader, loss_fn, device)


def train_with_accumulation(model: nn.Module, loader: Iterable, loss_fn: LossFn,
                            optimizer: torch.optim.Optimizer, accum_steps: int,
                            device: torch.device | str = "cpu") -> float:
    if accum_steps < 1:
        raise ValueError(f"accum_steps must be a positive number of micro-batches, got {accum_steps!r}")
    model.train()
    batches = list(loader)
    total, count = torch.zeros((), dtype=torch.float64), 0
    for start in range(0, len(batches), accum_steps):
        window = batches[start : start + accum_steps]
        optimizer.zero_grad()
        for batch in window:
            weighted, n = _step(model, batch, loss_fn, device, scale=1.0 / len(window))
            total, count = total + weighted.cpu(), count + n
        optimizer.step()
    optimizer.zero_grad()
    return (total / max(count, 1)).item()


def fit(model: nn.Module, train_loader: Iterable, val_loader: Iterable, loss_fn: LossFn,
        optimizer: torch.optim.Optimizer, epochs: int, device: torch.device | str = "cpu") -> list[dict]:
    history, best_model, best_loss = [], None, None
    for epoch in range(1, epochs + 1):
        train_loss = train_one_epoch(model, train_loader, loss_fn, optimizer, device)
        val_loss, val_acc = evaluate(model, val_loader, loss_fn, device)
        history.append(dict(epoch=epoch, train_loss=train_loss, val_loss=val_loss, val_acc=val_acc))
        if best_loss is None or val_loss < best_loss:
            best_loss, best_model = val_loss, copy.deepcopy(model)
    if best_model is not None:
        model.load_state_dict(best_model.state_dict())
    return history
