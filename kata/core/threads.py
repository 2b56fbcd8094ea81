"""The one home of the torch thread policy for tests, demos and grading.

The kata's tensors and models are tiny: a second intra-op thread costs more in hand-offs than it
saves, and on a busy 2-core machine it made a topic several times slower. So everything runs torch
on one thread unless KATA_TORCH_THREADS says otherwise.
"""

from __future__ import annotations

import os

ENV = "KATA_TORCH_THREADS"


def count() -> int:
    """Threads to give torch: KATA_TORCH_THREADS, default 1."""
    return max(1, int(os.environ.get(ENV, "1")))


def apply() -> int:
    """Set torch's intra-op threads to `count()` and return it."""
    import torch

    n = count()
    torch.set_num_threads(n)
    return n
