"""Pitfall: mean_loss reads back each loss (efficiency.mean_loss).

sum(l.item() for l in losses): one synchronisation per loss instead of one in all.
"""

from __future__ import annotations

from solutions.efficiency import *  # noqa: F403


def mean_loss(losses):
    if not losses:
        raise ValueError("mean_loss: losses is empty (got [])")
    return sum(loss.item() for loss in losses) / len(losses)
