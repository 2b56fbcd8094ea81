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


def _rng_state() -> dict:
    """Every random number generator a training run draws from, in types ``torch.load`` accepts."""
    np_state = np.random.get_state(legacy=False)  # a dict; its key array becomes a list of ints
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "python": random.getstate(),
        "numpy": {**np_state, "state": {"key": np_state["state"]["key"].tolist(), "pos": np_state["state"]["pos"]}},
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    random.setstate(state["python"])
    np_state = state["numpy"]
    key = np.array(np_state["state"]["key"], dtype=np.uint32)
    np.random.set_state({**np_state, "state": {"key": key, "pos": np_state["state"]["pos"]}})


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
    path = Path(path)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": epoch,
        "step": step,
        "extra": extra,
        "rng": _rng_state(),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # same folder
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them the checkpoint
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(ckpt["model"])
    if optimizer is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt["scheduler"] is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    _set_rng_state(ckpt["rng"])
    return {"epoch": ckpt["epoch"], "step": ckpt["step"], "extra": ckpt["extra"]}


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
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type=device_type, dtype=dtype):
        outputs = model(inputs)
        loss = loss_fn(outputs, targets)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    return loss.item()


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
    device = torch.device(device)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device))


if __name__ == "__main__":  # python -m solutions.production: the concept at work, with real numbers
    from demos import run

    run("production")
