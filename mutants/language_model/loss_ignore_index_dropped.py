"""Pitfall: ignore_index not passed on: a custom padding id is scored like a token (language_model.lm_loss)."""

from __future__ import annotations

import torch.nn.functional as F

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def lm_loss(logits, targets, ignore_index=-100):
    B, T, V = logits.shape
    return F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T))
