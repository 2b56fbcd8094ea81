"""Pitfall: torch.save straight onto the checkpoint: a crash mid-save leaves half a file (production)."""

from __future__ import annotations

import torch

from solutions.production import *  # noqa: F403
from solutions.production import _rng_state


def save_checkpoint(path, model, optimizer, *, scheduler=None, epoch, step, extra=None):
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": epoch,
        "step": step,
        "extra": extra,
        "rng": _rng_state(),
    }
    torch.save(state, path)
