"""Pitfall: save_checkpoint uses path.parent and path.name, so a plain str path fails (production.save_checkpoint)."""

from __future__ import annotations

import os
import tempfile

import torch

from solutions import production as reference
from solutions.production import *  # noqa: F403


def save_checkpoint(path, model, optimizer, *, scheduler=None, epoch, step, extra=None):
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": epoch,
        "step": step,
        "extra": extra,
        "rng": reference._rng_state(),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # AttributeError for a str
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
