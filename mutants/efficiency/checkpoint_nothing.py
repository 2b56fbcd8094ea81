"""Pitfall: segments ignored, blocks(x) run plainly (efficiency.checkpointed_forward).

The same output and gradients, and every activation kept anyway.
"""

from __future__ import annotations

from solutions.efficiency import *  # noqa: F403


def checkpointed_forward(blocks, x, segments):
    if not 1 <= segments <= len(blocks):
        raise ValueError(f"segments must be between 1 and {len(blocks)}, got {segments}")
    return blocks(x)
