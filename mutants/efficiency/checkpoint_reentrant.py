"""Pitfall: use_reentrant=True (efficiency.checkpointed_forward).

With an input that does not require grad, the parameters inside the checkpointed segments get no gradient.
"""

from __future__ import annotations

from torch.utils.checkpoint import checkpoint_sequential

from solutions.efficiency import *  # noqa: F403


def checkpointed_forward(blocks, x, segments):
    if not 1 <= segments <= len(blocks):
        raise ValueError(f"segments must be between 1 and {len(blocks)}, got {segments}")
    return checkpoint_sequential(blocks, segments, x, use_reentrant=True)
