"""Pitfall: mean_loss of an empty list returns NaN instead of raising ValueError (efficiency.mean_loss).
"""

from __future__ import annotations

import torch

from solutions.efficiency import *  # noqa: F403


def mean_loss(losses):
    if not losses:
        return torch.tensor([]).mean().item()
    return torch.stack(list(losses)).mean().item()
