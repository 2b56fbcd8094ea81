"""Pitfall: the expansion not clamped (efficiency.pairwise_sq_distances).

||x||^2 + ||y||^2 - 2 x.y rounds slightly below 0 for identical points.
"""

from __future__ import annotations

from solutions.efficiency import *  # noqa: F403


def pairwise_sq_distances(x, y):
    return (x * x).sum(dim=1, keepdim=True) + (y * y).sum(dim=1)[None, :] - 2.0 * (x @ y.T)
