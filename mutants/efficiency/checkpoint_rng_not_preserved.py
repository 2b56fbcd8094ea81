"""Pitfall: preserve_rng_state=False (efficiency.checkpointed_forward).

The recomputation draws new dropout masks: the gradients belong to another forward than the output.
"""

from __future__ import annotations

from torch.utils.checkpoint import checkpoint

from solutions.efficiency import *  # noqa: F403


def checkpointed_forward(blocks, x, segments):
    if not 1 <= segments <= len(blocks):
        raise ValueError(f"segments must be between 1 and {len(blocks)}, got {segments}")
    size = len(blocks) // segments
    for i in range(segments):
        end = len(blocks) if i == segments - 1 else (i + 1) * size
        x = checkpoint(blocks[i * size:end], x, use_reentrant=False, preserve_rng_state=False)
    return x
