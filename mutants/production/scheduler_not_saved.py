"""Pitfall: the scheduler state is left out, so the LR schedule restarts (production.save_checkpoint)."""

from __future__ import annotations

from solutions import production as reference
from solutions.production import *  # noqa: F403


def save_checkpoint(path, model, optimizer, *, scheduler=None, epoch, step, extra=None):
    reference.save_checkpoint(path, model, optimizer, scheduler=None, epoch=epoch, step=step, extra=extra)
