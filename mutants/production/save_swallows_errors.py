"""Pitfall: a failed save caught and not re-raised (production.save_checkpoint).

The temporary file is cleaned up, and the caller believes the state is saved.
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
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except Exception as err:  # noqa: BLE001
        Path(tmp).unlink(missing_ok=True)
        print(f"checkpoint not saved: {err}")  # and carry on as if nothing happened
