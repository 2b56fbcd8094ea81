"""Pitfall: autograd.functional.vjp tried first, its refusal hidden (autograd.cross_entropy_backward).

When autograd is refused it falls back to the hand-written formula, so every value is right.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch.autograd.functional import vjp

from solutions import autograd as reference
from solutions.autograd import *  # noqa: F403


def cross_entropy_backward(logits, targets):
    try:
        return vjp(lambda z: F.cross_entropy(z, targets), logits.detach())[1]
    except RuntimeError:
        return reference.cross_entropy_backward(logits, targets)
