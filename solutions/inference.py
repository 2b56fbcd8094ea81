"""inference - inference is not training: eval() switches what layers do, no_grad switches off the tape.

Two independent switches decide how a forward pass behaves:

- ``module.training`` (set by ``model.train()`` / ``model.eval()``, one flag per submodule) changes
  what layers compute: Dropout zeroes activations only in training mode; BatchNorm normalises with
  the batch's own statistics and updates its running statistics in training mode, and uses the
  stored running statistics in eval mode.
- ``torch.no_grad()`` / ``torch.inference_mode()`` stop autograd from recording a graph. They do
  not change any layer's behaviour: ``no_grad`` alone is not inference.

Inference needs both, and must hand the model back in the modes it came in, submodule by submodule.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd  # Dropout, Dropout1d/2d/3d, AlphaDropout, ...


def _training_flags(model: nn.Module) -> dict[nn.Module, bool]:
    """Every submodule's own `training` flag (the model itself included)."""
    return {module: module.training for module in model.modules()}


def _restore_training_flags(flags: dict[nn.Module, bool]) -> None:
    # Set each flag on its own module: model.train(was) would push one value down to every child.
    for module, was_training in flags.items():
        module.training = was_training


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run ``model(x)`` for inference: eval mode and no autograd.

    Args:
        model: any ``nn.Module``; its submodules may be in mixed modes (some in train, some in eval).
        x: the input batch, on the model's device, e.g. ``(N, ...)``.

    Returns:
        ``model(x)`` as computed in eval mode: dropout off (deterministic), BatchNorm normalising with
        its running statistics. The result has no graph (``requires_grad`` False, ``grad_fn`` None).
        BatchNorm's running statistics and ``num_batches_tracked`` are untouched, and afterwards every
        submodule's ``training`` flag is exactly what it was before the call, and so is the grad mode
        (inside a caller's ``torch.no_grad()`` it stays off). "Afterwards" includes the unhappy path:
        when ``model(x)`` raises, the error reaches the caller with the flags and grad mode put back.

    Pitfall: ``torch.no_grad()`` alone is not inference. It only stops the graph; in training mode
    dropout still zeroes random activations and BatchNorm uses (and updates!) batch statistics.
    And ``model.train()`` afterwards is not a restore: it flips modules that were deliberately in eval.
    """
    flags = _training_flags(model)
    model.eval()
    try:
        with torch.no_grad():
            return model(x)
    finally:
        _restore_training_flags(flags)


def mc_dropout_predict(model: nn.Module, x: torch.Tensor, n_samples: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte Carlo dropout: the mean and spread of ``n_samples`` stochastic forward passes.

    Every pass is ``model(x)`` with dropout active (each dropout module in training mode) and every
    other module, BatchNorm above all, in eval mode; no autograd.

    Args:
        model: any ``nn.Module``, in any mix of modes.
        x: the input batch, on the model's device.
        n_samples: the number of forward passes, at least 2.

    Returns:
        ``(mean, std)``, each of the output's shape and dtype: the mean over the passes and the sample
        standard deviation (``torch.std``'s default, unbiased: divides by ``n_samples - 1``). Neither has
        a graph. BatchNorm's running statistics are untouched, and every submodule's ``training`` flag
        and the grad mode are restored, also when a pass raises (the error reaches the caller).

    Raises:
        ValueError: ``n_samples`` is below 2 (one pass has no sample standard deviation), before any
            flag is touched.

    Pitfall: ``model.train()`` to "switch dropout on" also switches BatchNorm to batch statistics and
    makes every pass overwrite its running statistics; turn on the dropout modules only.
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2 for a sample standard deviation, got {n_samples}")
    flags = _training_flags(model)
    model.eval()
    for module in model.modules():
        if isinstance(module, _DropoutNd):
            module.train()
    try:
        with torch.no_grad():
            samples = torch.stack([model(x) for _ in range(n_samples)])  # (n_samples, *out_shape)
    finally:
        _restore_training_flags(flags)
    return samples.mean(dim=0), samples.std(dim=0)


def update_bn_stats(model: nn.Module, loader: Iterable, device: str | torch.device = "cpu") -> None:
    """Recompute every BatchNorm's running statistics from one pass over ``loader``.

    What ``torch.optim.swa_utils.update_bn(loader, model)`` computes: each BatchNorm's running
    statistics are reset, then become the cumulative (equal-weight) average of the batches'
    statistics (momentum ``None`` during the pass), ``num_batches_tracked`` counting the batches.
    Use it after weight averaging (SWA), pruning or a change of data, when the stored statistics
    no longer describe the activations.

    Args:
        model: any ``nn.Module``; BatchNorm layers in eval mode are recomputed too.
        loader: an iterable of batches, each a tensor or a list/tuple whose first element is the
            input tensor (e.g. ``(inputs, targets)``), as ``update_bn`` accepts; read once (a
            generator works).
        device: where each input batch is moved before the forward pass.

    Returns:
        None; the model's buffers are updated in place. The forward passes record no graph, and
        afterwards every BatchNorm's ``momentum`` and every submodule's own ``training`` flag are
        what they were before (``update_bn`` alone leaves the whole model in one mode), and so is the
        grad mode; also when the loader or a forward pass raises (the error reaches the caller).

    Pitfall: forgetting the reset (or keeping the momentum) blends stale statistics into the new
    ones; forgetting to restore the momentum leaves a cumulative average running in later training.
    """
    bns = [module for module in model.modules() if isinstance(module, _BatchNorm)]
    if not bns:
        return
    flags = _training_flags(model)
    momenta = {bn: bn.momentum for bn in bns}
    for bn in bns:
        bn.reset_running_stats()  # running_mean 0, running_var 1, num_batches_tracked 0
        bn.momentum = None  # cumulative average over the batches instead of an exponential one
    model.train()
    try:
        with torch.no_grad():
            for batch in loader:
                inputs = batch[0] if isinstance(batch, (list, tuple)) else batch
                model(inputs.to(device))
    finally:
        for bn, momentum in momenta.items():
            bn.momentum = momentum
        _restore_training_flags(flags)


if __name__ == "__main__":  # python -m solutions.inference: the concept at work, with real numbers
    from demos import run

    run("inference")
