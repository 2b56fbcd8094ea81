"""production - production habits: atomic checkpoints that resume exactly, mixed precision, peak GPU memory."""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn


def save_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer, *, scheduler=None, epoch: int,
                    step: int, extra=None) -> None:
    """Save everything needed to resume training exactly, atomically.

    Args:
        path: the checkpoint file (str or Path); its folder must exist. A bare file name lives in
            the working directory, and so does its temporary file.
        model, optimizer: their ``state_dict()`` are saved (the optimizer's holds Adam's moments).
        scheduler: an LR scheduler whose ``state_dict()`` is saved too, or None.
        epoch, step: where training stands (e.g. the number of finished epochs and steps).
        extra: anything else to keep (metrics, config) made of tensors, numbers, strings, lists,
            tuples and dicts: what ``torch.load(weights_only=True)`` can read back.

    The file also holds the RNG states of torch (CPU, and every CUDA device when present), Python's
    ``random`` and NumPy, stored as tensors, ints and lists so that the default
    ``torch.load(path)`` (``weights_only=True``) reads it.

    Atomic: the state is written to a temporary file in the same folder, which then replaces
    ``path`` with ``os.replace`` (a rename: all or nothing). A crash mid-save leaves the previous
    checkpoint intact; an exception during the save propagates, and the temporary file is removed.

    Pitfalls: ``torch.save(state, path)`` straight onto the old file (a crash leaves half a file
    and no checkpoint at all); a temporary file in another folder (a rename across file systems is a
    copy, not atomic); forgetting the RNG states or the optimizer's state (the run "resumes" but
    is not the same run: other shuffles, other dropout masks, Adam restarting from zero moments).
    """
    raise NotImplementedError("production.save_checkpoint: state_dicts, counters, RNG states; temp file + os.replace")


def load_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *, scheduler=None,
                    map_location="cpu") -> dict:
    """Restore a checkpoint written by ``save_checkpoint``, RNG states included.

    Args:
        path: the checkpoint file.
        model: receives the saved weights (``load_state_dict``, strict).
        optimizer: receives the saved optimizer state (Adam's step counts and moments), or None to
            restore only the model.
        scheduler: receives the saved scheduler state, or None to leave it out (also when the
            checkpoint holds one).
        map_location: where ``torch.load`` puts the saved tensors first ("cpu" works everywhere;
            ``load_state_dict`` then copies them onto the model's and optimizer's own devices).
            A checkpoint saved where CUDA was not available loads where it is (there are no CUDA
            RNG states to restore then).

    Returns:
        ``{"epoch": int, "step": int, "extra": ...}`` as saved.

    Raises:
        RuntimeError: the saved weights do not fit ``model``: a key of the model missing from the
            checkpoint, or a saved key the model does not have (what ``load_state_dict`` raises
            when strict). A checkpoint of another architecture is never half-loaded in silence.

    Reads with ``torch.load``'s default ``weights_only=True``: no arbitrary code runs on load.
    Resuming at an epoch boundary then reproduces the uninterrupted run bit for bit: the same
    shuffle order of a ``DataLoader(shuffle=True)``, the same dropout masks, the same Adam steps.
    """
    raise NotImplementedError("production.load_checkpoint: torch.load, load_state_dict each part, restore the RNGs")


def amp_train_step(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: Callable,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None = None, *,
                   device_type: str = "cpu", dtype: torch.dtype = torch.bfloat16) -> float:
    """One complete mixed-precision optimizer step; returns the loss as a Python float.

    Gradients are reset first; the forward pass and the loss both run under
    ``torch.autocast(device_type, dtype)`` (the loss too: there autocast runs softmax and losses in
    float32, outside it they would run in the outputs' low precision), so matmuls and
    convolutions compute in ``dtype``
    (bfloat16, or float16 on GPUs) while the parameters, their gradients and the optimizer state
    stay float32. With a ``GradScaler`` (needed for float16, whose small gradients underflow to 0):
    ``scaler.scale(loss).backward()``, ``scaler.step(optimizer)`` (which skips the step when a
    gradient is inf or NaN) and ``scaler.update()`` (which lowers the scale after such a skip and
    raises it after a run of good steps). The backward pass runs outside the autocast block, and
    autocast is off again when the step returns or raises (an error reaches the caller).

    Pitfalls: ``model.half()`` instead of autocast (the float32 master weights are gone: small
    updates round away, and the loss/softmax lose precision); a scaler without ``update()`` (the
    scale never adapts, and a second ``scaler.step`` raises); stale gradients from a previous step
    added to this one because nothing reset them.
    """
    raise NotImplementedError("production.amp_train_step: zero_grad, autocast forward and loss, backward, step")


def peak_memory_bytes(fn: Callable[[], object], device) -> int:
    """The peak CUDA memory allocated (bytes, a Python int) on ``device`` while ``fn()`` runs.

    Resets the peak statistics first, so a bigger peak from earlier does not leak in; runs
    ``fn()``; synchronises the device so that all the work ``fn`` queued has finished; then reads
    ``torch.cuda.max_memory_allocated(device)``. The number includes tensors that were already
    allocated before ``fn`` started (the peak of the whole device, not of ``fn`` alone).

    Args:
        fn: a callable with no arguments (e.g. ``lambda: model(x).sum().backward()``).
        device: a CUDA device (``"cuda"``, ``"cuda:0"``, ``torch.device``).

    Pitfall: reading the statistics before ``torch.cuda.synchronize``: CUDA calls return before the
    GPU has finished, so the reading is taken while ``fn``'s work is still in flight.
    """
    raise NotImplementedError("production.peak_memory_bytes: reset the peak, run, synchronise, read")


if __name__ == "__main__":  # python -m exercises.production: the concept at work, with real numbers
    from demos import run

    run("production")
