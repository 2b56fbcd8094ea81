"""Pitfall: a failed save_checkpoint leaves its half-written temporary file behind (production.save_checkpoint)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from solutions import production as reference
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
        "rng": reference._rng_state(),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        torch.save(state, f)  # an error here leaves tmp behind
    os.replace(tmp, path)
