"""Pitfall: the peak statistics are not reset before fn (production.peak_memory_bytes).

Only CUDA tests reject it.
"""

from __future__ import annotations

import torch

from solutions.production import *  # noqa: F403


def peak_memory_bytes(fn, device):
    fn()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device))
