"""Pitfall: segments < 1 not rejected (efficiency.checkpointed_forward).

segments=0 quietly runs the blocks without checkpointing.
"""

from __future__ import annotations

from solutions import efficiency as reference
from solutions.efficiency import *  # noqa: F403


def checkpointed_forward(blocks, x, segments):
    if segments < 1:
        return blocks(x)
    return reference.checkpointed_forward(blocks, x, segments)
