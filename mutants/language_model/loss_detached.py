"""Pitfall: the loss computed on detached logits: no graph to train through (language_model.lm_loss)."""

from __future__ import annotations

from solutions import language_model as reference
from solutions.language_model import *  # noqa: F403


def lm_loss(logits, targets, ignore_index=-100):
    return reference.lm_loss(logits.detach(), targets, ignore_index)
