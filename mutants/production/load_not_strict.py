"""Pitfall: the weights loaded with strict=False (production.save_checkpoint).

A checkpoint whose keys do not fit the model loads in silence, half of it or none.
"""

from __future__ import annotations

import torch

from solutions import production as reference
from solutions.production import *  # noqa: F403


def load_checkpoint(path, model, optimizer=None, *, scheduler=None, map_location="cpu"):
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(ckpt["model"], strict=False)
    if optimizer is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt["scheduler"] is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    reference._set_rng_state(ckpt["rng"])
    return {"epoch": ckpt["epoch"], "step": ckpt["step"], "extra": ckpt["extra"]}
