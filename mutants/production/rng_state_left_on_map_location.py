"""Pitfall: the torch RNG state restored where map_location put it (production.save_checkpoint).

With map_location='cuda' torch.set_rng_state gets a CUDA tensor and fails: it wants a CPU ByteTensor.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from solutions import production as reference
from solutions.production import *  # noqa: F403


def load_checkpoint(path, model, optimizer=None, *, scheduler=None, map_location="cpu"):
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(ckpt["model"])
    if optimizer is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt["scheduler"] is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    rng = ckpt["rng"]
    torch.set_rng_state(rng["torch"])  # on map_location's device
    if rng["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
    random.setstate(rng["python"])
    np_state = rng["numpy"]
    key = np.array(np_state["state"]["key"], dtype=np.uint32)
    np.random.set_state({**np_state, "state": {"key": key, "pos": np_state["state"]["pos"]}})
    return {"epoch": ckpt["epoch"], "step": ckpt["step"], "extra": ckpt["extra"]}
