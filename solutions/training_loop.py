"""training_loop - training loops: one optimizer step per batch, on that batch's gradient alone.

``loss.backward()`` does not overwrite ``param.grad``: it ADDS the new gradient to whatever is
already there. That is what makes gradient accumulation possible (several micro-batches summed into
one step), and it is why a training loop owns the reset: nothing else clears ``.grad``. A loop that
never resets still runs and its loss may even go down for a while, but step k then follows the sum
of the gradients of batches 1..k, an ever larger step pointing further into the past.

Loaders are ``DataLoader``s or plain lists of ``(inputs, targets)`` batches; ``loss_fn`` returns the
mean loss of a batch (``reduction="mean"``), so a batch's total loss is ``loss * batch_size``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

import torch
from torch import nn

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def train_one_epoch(
    model: nn.Module,
    loader: Iterable[Batch],
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    device: torch.device | str = "cpu",
) -> float:
    """Train ``model`` for one pass over ``loader``: one optimizer step per batch.

    Args:
        model: the network, already on ``device``; it is put in train mode (dropout on, BatchNorm
            normalising with batch statistics and updating its running statistics).
        loader: a ``DataLoader`` or a list of ``(inputs, targets)`` batches, on any device; each
            batch is moved to ``device``. The last batch may be smaller.
        loss_fn: returns the mean loss of a batch, e.g. ``nn.CrossEntropyLoss()``.
        optimizer: an optimizer over ``model``'s parameters.
        device: where to compute.

    Returns:
        the mean loss per sample over the epoch, a Python float: each batch's loss weighted by its
        number of samples (a smaller last batch weighs less; not the mean of the batch means).

    Each step's gradient is that batch's gradient alone: gradients left on the parameters by earlier
    steps, or by anything before this call, never leak into a step.

    Pitfall (in exercises/ this loop ships complete, plausible and wrong: find the one bug): a loop
    that runs and whose loss goes down can still be wrong. Ask what ``.grad`` holds at the moment
    ``optimizer.step()`` reads it, on the second batch, and on the first.
    """
    model.train()
    total_loss, n_samples = 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()  # .grad of the previous step (or of whoever ran before us) must go
        loss = loss_fn(model(inputs), targets)  # mean over the batch
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(targets)
        n_samples += len(targets)
    return total_loss / max(n_samples, 1)


def evaluate(
    model: nn.Module,
    loader: Iterable[Batch],
    loss_fn: LossFn,
    device: torch.device | str = "cpu",
) -> tuple[float, float]:
    """Measure ``model`` on ``loader`` without training it.

    Args:
        model: a classifier on ``device`` whose outputs are logits ``(N, C)``; in any mode.
        loader: a ``DataLoader`` or a list of ``(inputs, targets)`` batches, targets ``(N,)`` int64
            class indices; each batch is moved to ``device``.
        loss_fn: returns the mean loss of a batch.
        device: where to compute.

    Returns:
        ``(mean loss per sample, accuracy)``, two Python floats: the loss weighted by batch size,
        and the fraction of samples whose arg-max logit is the target, in ``[0, 1]`` (not a
        percentage). What an empty loader gives is left open (there is no sample to average over).

    The forward passes run in eval mode and without autograd (``torch.no_grad`` or
    ``torch.inference_mode``): no ``.grad`` is created, BatchNorm's running statistics are not
    touched. Afterwards every submodule's own ``training`` flag is what it was before the call (the
    model itself included: train or eval, and mixed modes too, e.g. a frozen BatchNorm kept in eval
    inside a model in train mode) and autograd is in the state the caller had (inside the caller's
    ``torch.no_grad()`` it stays off), also when the loader or the model raises: the error reaches
    the caller, the flags are put back on the way out.

    Pitfalls: forgetting to switch back. ``evaluate`` is called between training epochs; a model left
    in eval mode trains on with dropout off and BatchNorm frozen, silently. And switching back with
    ``model.train(was_training)`` sets ONE mode on every submodule: a submodule that was in eval
    inside a model in train mode (or the other way round) comes back flipped.
    """
    flags = {module: module.training for module in model.modules()}  # each submodule's own flag
    model.eval()
    total_loss, n_correct, n_samples = 0.0, 0, 0
    try:
        with torch.no_grad():
            for inputs, targets in loader:
                inputs, targets = inputs.to(device), targets.to(device)
                logits = model(inputs)  # (N, C)
                total_loss += loss_fn(logits, targets).item() * len(targets)
                n_correct += (logits.argmax(dim=1) == targets).sum().item()
                n_samples += len(targets)
    finally:
        for module, was_training in flags.items():  # not model.train(...): that sets one mode everywhere
            module.training = was_training
    n_samples = max(n_samples, 1)
    return total_loss / n_samples, n_correct / n_samples


def train_with_accumulation(
    model: nn.Module,
    loader: Iterable[Batch],
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    accum_steps: int,
    device: torch.device | str = "cpu",
) -> float:
    """One epoch with gradient accumulation: one optimizer step per ``accum_steps`` micro-batches.

    Args:
        model: the network on ``device``; put in train mode.
        loader: a ``DataLoader`` or a list of ``(inputs, targets)`` micro-batches (``len(loader)``
            must work), of equal sizes except perhaps the last.
        loss_fn: returns the mean loss of a micro-batch.
        optimizer: an optimizer over ``model``'s parameters.
        accum_steps: micro-batches per optimizer step, at least 1.
        device: where to compute.

    Returns:
        the mean loss per sample over the epoch (each micro-batch's undivided loss weighted by its
        size), a Python float. What an empty loader gives is left open (there is no sample to
        average over).

    The gradient of each step equals the gradient of the mean of its micro-batches' (mean) losses:
    each micro-batch counts once, whatever its size, so a short last micro-batch in a full window
    weighs as much as the others (with equal sizes this is the gradient of one big batch made of
    them). A final partial window (fewer than ``accum_steps`` micro-batches left) still steps,
    averaged over the micro-batches actually in it. Gradients left on the parameters before the call
    do not leak into the first step.

    Raises:
        ValueError: ``accum_steps`` is below 1.

    Pitfall: ``backward()`` sums, so each micro-batch's loss must be divided by the number of
    micro-batches in its window, and ``zero_grad`` / ``step`` happen once per window, not once per
    micro-batch.
    """
    if accum_steps < 1:
        raise ValueError(f"accum_steps must be at least 1, got {accum_steps}")
    model.train()
    n_batches = len(loader)
    total_loss, n_samples = 0.0, 0
    optimizer.zero_grad()
    for i, (inputs, targets) in enumerate(loader):
        window_start = i - i % accum_steps
        window_size = min(accum_steps, n_batches - window_start)  # the last window may be short
        inputs, targets = inputs.to(device), targets.to(device)
        loss = loss_fn(model(inputs), targets)
        (loss / window_size).backward()  # grads add up to the mean over the window
        total_loss += loss.item() * len(targets)
        n_samples += len(targets)
        if i + 1 == window_start + window_size:  # the window's last micro-batch
            optimizer.step()
            optimizer.zero_grad()
    return total_loss / max(n_samples, 1)


def fit(
    model: nn.Module,
    train_loader: Iterable[Batch],
    val_loader: Iterable[Batch],
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    device: torch.device | str = "cpu",
) -> list[dict]:
    """Train for ``epochs`` epochs, validate after each, and keep the best weights.

    Args:
        model: a classifier on ``device``.
        train_loader, val_loader: ``DataLoader``s or lists of ``(inputs, targets)`` batches.
        loss_fn: returns the mean loss of a batch.
        optimizer: an optimizer over ``model``'s parameters.
        epochs: the number of passes over ``train_loader``.
        device: where to compute.

    Returns:
        the history, one dict per epoch in order, with keys ``epoch`` (1, 2, ...), ``train_loss``
        (``train_one_epoch``'s mean loss), ``val_loss`` and ``val_acc`` (``evaluate`` on
        ``val_loader`` after that epoch). At the end ``model`` holds the weights of the epoch with
        the lowest ``val_loss`` (the earliest, on a tie), loaded into the same module object.

    Pitfall: the last epoch is not the best one once the model starts to overfit or diverge. And a
    snapshot must be a copy: ``model.state_dict()`` returns tensors that share storage with the
    parameters, so a saved-but-uncopied "best" state silently follows training to the last epoch.
    """
    history = []
    best_loss, best_state = float("inf"), None
    for epoch in range(1, epochs + 1):
        train_loss = train_one_epoch(model, train_loader, loss_fn, optimizer, device)
        val_loss, val_acc = evaluate(model, val_loader, loss_fn, device)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc})
        if val_loss < best_loss:
            best_loss, best_state = val_loss, copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


if __name__ == "__main__":  # python -m solutions.training_loop: the concept at work, with real numbers
    from demos import run

    run("training_loop")
