"""Pitfall: the peak is read before torch.cuda.synchronize (production.peak_memory_bytes).

Only CUDA tests reject it.
"""

from __future__ import annotations

import torch

from solutions.production import *  # noqa: F403


def peak_memory_bytes(fn, device):
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    peak = torch.cuda.max_memory_allocated(device)
    torch.cuda.synchronize(device)
    return int(peak)
