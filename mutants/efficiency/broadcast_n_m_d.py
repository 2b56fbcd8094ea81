"""Pitfall: pairwise distances through an (N, M, D) broadcast (efficiency.pairwise_sq_distances).

Few launches and exact values, but the temporary holds N * M * D elements: memory grows with the product.
"""

from __future__ import annotations

from solutions.efficiency import *  # noqa: F403


def pairwise_sq_distances(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(dim=-1)
