"""Pitfall: temporary folder os.path.dirname(path) or None (production.save_checkpoint).

For a bare file name that is None, so the temporary file goes to the system temp folder, not the working directory.
"""

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
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.fspath(path)) or None, suffix=".tmp")  # '' -> None -> /tmp
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
