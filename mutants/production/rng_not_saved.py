"""Pitfall: no RNG state in the checkpoint, so a resumed run differs (production.save_checkpoint).

A resumed run shuffles and drops out differently.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from solutions.production import *  # noqa: F403


def save_checkpoint(path, model, optimizer, *, scheduler=None, epoch, step, extra=None):
    path = Path(path)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": epoch,
        "step": step,
        "extra": extra,
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    os.close(fd)
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, model, optimizer=None, *, scheduler=None, map_location="cpu"):
    ckpt = torch.load(path, map_location=map_location)
    model.load_state_dict(ckpt["model"])
    if optimizer is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt["scheduler"] is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    return {"epoch": ckpt["epoch"], "step": ckpt["step"], "extra": ckpt["extra"]}
