"""Pitfall: the CUDA RNG states restored whenever CUDA is available (production.save_checkpoint).

A checkpoint saved on a machine without CUDA holds none, so resuming it on a GPU machine crashes.
"""

from __future__ import annotations

import torch

from solutions import production as reference
from solutions.production import *  # noqa: F403


def _set_rng_state(state):
    if torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    reference._set_rng_state({**state, "cuda": None})


def load_checkpoint(path, model, optimizer=None, *, scheduler=None, map_location="cpu"):
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(ckpt["model"])
    if optimizer is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt["scheduler"] is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    _set_rng_state(ckpt["rng"])
    return {"epoch": ckpt["epoch"], "step": ckpt["step"], "extra": ckpt["extra"]}
