"""Pitfall: the old checkpoint deleted before the temporary file is renamed onto it (production.save_checkpoint).

A crash in between leaves no checkpoint at all.
"""

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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        if path.exists():
            os.remove(path)  # the window: no checkpoint on disk until the rename
        os.rename(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
