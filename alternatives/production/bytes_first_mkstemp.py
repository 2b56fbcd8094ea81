"""production, a correct style: the checkpoint serialised to bytes in memory first, then written to a mkstemp file
in the same folder and renamed; RNG states in one nested dict; the step through torch.autocast with explicit
keyword arguments and the scaler's own flow."""

from __future__ import annotations

import io
import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn


def _generators() -> dict:
    state = np.random.get_state(legacy=False)
    return {
        "cpu": torch.random.get_rng_state(),
        "cuda": [torch.cuda.get_rng_state(i) for i in range(torch.cuda.device_count())],
        "py": list(random.getstate()),
        "np": {"key": [int(k) for k in state["state"]["key"]], "pos": int(state["state"]["pos"]),
               "has_gauss": int(state["has_gauss"]), "gauss": float(state["gauss"])},
    }


def _restore_generators(g: dict) -> None:
    torch.random.set_rng_state(g["cpu"].cpu())
    for i, s in enumerate(g["cuda"][: torch.cuda.device_count()]):
        torch.cuda.set_rng_state(s.cpu(), i)
    version, internal, gauss = g["py"]
    random.setstate((version, tuple(internal), gauss))
    n = g["np"]
    np.random.set_state({"bit_generator": "MT19937", "state": {"key": np.array(n["key"], dtype=np.uint32),
                                                               "pos": n["pos"]},
                         "has_gauss": n["has_gauss"], "gauss": n["gauss"]})


def save_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer, *, scheduler=None, epoch: int,
                    step: int, extra=None) -> None:
    target = Path(path)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler else None,
                "meta": {"epoch": epoch, "step": step, "extra": extra}, "generators": _generators()}, buffer)
    handle, tmp = tempfile.mkstemp(dir=target.resolve().parent, suffix=".partial")
    try:
        with open(handle, "wb", closefd=True) as out:
            out.write(buffer.getbuffer())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *, scheduler=None,
                    map_location="cpu") -> dict:
    ckpt = torch.load(Path(path), map_location=map_location, weights_only=True)
    model.load_state_dict(ckpt["model"])
    if optimizer:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler and ckpt["scheduler"]:
        scheduler.load_state_dict(ckpt["scheduler"])
    _restore_generators(ckpt["generators"])
    return dict(ckpt["meta"])


def amp_train_step(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: Callable,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None = None, *,
                   device_type: str = "cpu", dtype: torch.dtype = torch.bfloat16) -> float:
    for group in optimizer.param_groups:
        for p in group["params"]:
            p.grad = None
    with torch.autocast(device_type=device_type, dtype=dtype, enabled=True):
        out = model(inputs)
        loss = loss_fn(out, targets)
    (scaler.scale(loss) if scaler is not None else loss).backward()
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return float(loss.detach())


def peak_memory_bytes(fn: Callable[[], object], device) -> int:
    device = torch.device(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device)
