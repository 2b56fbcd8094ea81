"""Pitfall: the memory allocated before fn subtracted (production.peak_memory_bytes).

fn's growth is reported instead of the device's peak.
"""

from __future__ import annotations

import torch

from solutions import production as reference
from solutions.production import *  # noqa: F403


def peak_memory_bytes(fn, device):
    device = torch.device(device)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device) - before)
