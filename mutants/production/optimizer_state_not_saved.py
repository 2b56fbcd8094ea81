"""Pitfall: the optimizer state is left out, so Adam restarts from zero moments (production.save_checkpoint)."""

from __future__ import annotations

from solutions import production as reference
from solutions.production import *  # noqa: F403


class _NoState:
    def state_dict(self):
        return None


def save_checkpoint(path, model, optimizer, *, scheduler=None, epoch, step, extra=None):
    reference.save_checkpoint(path, model, _NoState(), scheduler=scheduler, epoch=epoch, step=step, extra=extra)


def load_checkpoint(path, model, optimizer=None, *, scheduler=None, map_location="cpu"):
    return reference.load_checkpoint(path, model, None, scheduler=scheduler, map_location=map_location)
