"""production, a correct style: a NamedTemporaryFile beside the checkpoint (delete=False, unlinked on failure), the
legacy NumPy RNG tuple stored as a list, torch.amp.autocast with zero_grad(set_to_none=False)."""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Callable

import numpy as np
import torch
from torch import nn


def save_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer, *, scheduler=None, epoch: int,
                    step: int, extra=None) -> None:
    path = os.fspath(path)
    name, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    payload = {
        "weights": model.state_dict(),
        "optim": optimizer.state_dict(),
        "sched": None if scheduler is None else scheduler.state_dict(),
        "counters": {"epoch": epoch, "step": step},
        "extra": extra,
        "rng_torch": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "rng_python": random.getstate(),
        "rng_numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
    }
    folder = os.path.dirname(os.path.abspath(path))
    tmp = tempfile.NamedTemporaryFile(dir=folder, prefix=".ckpt-", delete=False)
    try:
        with tmp:
            torch.save(payload, tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, path)
    except BaseException:
        if os.path.exists(tmp.name):
            os.unlink(tmp.name)
        raise


def load_checkpoint(path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, *, scheduler=None,
                    map_location="cpu") -> dict:
    payload = torch.load(os.fspath(path), map_location=map_location)
    model.load_state_dict(payload["weights"])
    if optimizer is not None:
        optimizer.load_state_dict(payload["optim"])
    if scheduler is not None and payload["sched"] is not None:
        scheduler.load_state_dict(payload["sched"])
    torch.set_rng_state(payload["rng_torch"].to("cpu", torch.uint8))
    if payload["rng_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.to("cpu") for s in payload["rng_cuda"]])
    random.setstate(payload["rng_python"])
    name, keys, pos, has_gauss, gauss = payload["rng_numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    return {"epoch": payload["counters"]["epoch"], "step": payload["counters"]["step"], "extra": payload["extra"]}


def amp_train_step(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: Callable,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None = None, *,
                   device_type: str = "cpu", dtype: torch.dtype = torch.bfloat16) -> float:
    optimizer.zero_grad(set_to_none=False)
    with torch.amp.autocast(device_type, dtype=dtype):
        loss = loss_fn(model(inputs), targets)
    value = loss.detach().float().item()
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return value


def peak_memory_bytes(fn: Callable[[], object], device) -> int:
    dev = torch.device(device)
    with torch.cuda.device(dev):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return int(torch.cuda.memory_stats()["allocated_bytes.all.peak"])
